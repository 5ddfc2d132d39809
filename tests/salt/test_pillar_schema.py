"""schemas/pillar.schema.json is the one description of pillar: the shipped pillars
validate against it with jsonschema alone, the pillar guard (salt/_modules/golden_pillar.py)
finds it beside the salt/ it runs from, and reports every problem by key."""

from __future__ import annotations

import copy
import importlib.util
import json
import os

import jsonschema
import pytest
import yaml

from .conftest import REPO

SCHEMAS = REPO / "schemas"


@pytest.fixture(scope="module")
def guard():
    spec = importlib.util.spec_from_file_location(
        "golden_pillar", REPO / "salt" / "_modules" / "golden_pillar.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def _merged(*layers: dict) -> dict:
    out: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = _merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def _sls(name: str) -> dict:
    return yaml.safe_load((REPO / "pillar" / name).read_text())


@pytest.mark.parametrize("name", ["pillar.schema.json", "environment.schema.json"])
def test_each_schema_is_a_valid_draft_2020_12_schema(name):
    jsonschema.Draft202012Validator.check_schema(_schema(name))


def test_pillar_example_validates_with_jsonschema_alone():
    jsonschema.Draft202012Validator(_schema("pillar.schema.json")).validate(
        yaml.safe_load((REPO / "pillar" / "pillar.example").read_text())
    )


@pytest.mark.parametrize("role", ["app", "chroma", "base"])
@pytest.mark.parametrize("platform", ["aws", "twin"])
def test_each_shipped_pillar_validates_with_jsonschema_alone(role, platform):
    # common.sls is Jinja (its platform comes from the grain): the rest is plain YAML.
    layers = [{"golden": {"platform": platform}}, _sls(f"roles/{role}.sls")]
    if platform == "twin":
        layers.append(_sls("twin.sls"))
    jsonschema.Draft202012Validator(_schema("pillar.schema.json")).validate(_merged(*layers))


def test_the_guard_reads_the_schema_beside_its_salt_tree(guard, tmp_path):
    # Loaded from the repository (as here): schemas/ beside salt/.
    assert guard.schema_path() == str(SCHEMAS / "pillar.schema.json")
    # An instance: /srv/salt -> /srv/schemas; a hotfix pre-render: trees/X/salt -> trees/X/schemas.
    assert guard.schema_path({"base": ["/srv/salt"]}) == "/srv/schemas/pillar.schema.json"
    tree = tmp_path / "trees" / "X"
    (tree / "salt").mkdir(parents=True)
    assert guard.schema_path({"base": [str(tree / "salt")]}) == str(
        tree / "schemas" / "pillar.schema.json"
    )
    # After a hotfix /srv/salt is a link into the tree in place: its own schemas/ count.
    srv = tmp_path / "srv"
    srv.mkdir()
    os.symlink(tree / "salt", srv / "salt")
    assert guard.schema_path({"base": [str(srv / "salt")]}) == str(
        tree / "schemas" / "pillar.schema.json"
    )


def test_check_takes_the_schema_it_is_given(guard):
    pillar = _merged({"golden": {"platform": "aws"}}, _sls("roles/base.sls"))
    assert guard.check(pillar, "base") == []
    stricter = _schema("pillar.schema.json")
    stricter["properties"]["golden"]["properties"]["platform"]["enum"] = ["twin"]
    assert guard.check(pillar, "base", stricter) == [
        "golden:platform: expected 'twin', got 'aws'"
    ]


def app_pillar() -> dict:
    return _merged({"golden": {"platform": "aws"}}, _sls("roles/app.sls"))


def test_every_problem_is_reported_by_key_in_key_order(guard):
    pillar = app_pillar()
    pillar["nginx"]["tls"]["enabled"] = "yes"
    pillar["nginx"].pop("lb_cidrs")
    pillar["app"]["colour"] = "blue"
    pillar["app"]["backend_replicas"] = 40
    pillar["base"] = {"nofile_limit": 2.0}
    expected = [
        "app:backend_replicas: expected 1..16, got 40",
        "app:colour: unknown key",
        "base:nofile_limit: expected integer, got float 2.0",
        "nginx:lb_cidrs: required key is missing",
        "nginx:tls:enabled: expected boolean, got str 'yes'",
    ]
    assert guard.check(pillar, "app") == expected
    assert guard.check(copy.deepcopy(pillar), "app") == expected


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda p: p["app"].update(image_source="registry"),
         "app:images: required key is missing (when image_source is registry)"),
        (lambda p: p["app"].update(image_source="registry",
                                   images={"backend": "r@sha256:" + "a" * 64,
                                           "frontend": "r:latest"}),
         "app:images:frontend: expected an image pinned by digest (repository@sha256:...), "
         "got 'r:latest'"),
        (lambda p: p["app"].pop("image_manifest"),
         "app:image_manifest: required key is missing (when image_source is archive)"),
        (lambda p: p.pop("nginx"), "nginx: required section is missing (on role app)"),
        (lambda p: p["app"].update(environment={"app_x": "1"}),
         "app:environment:app_x: expected a name like APP_FEATURE_X (APP_, then A-Z 0-9 _), "
         "got 'app_x'"),
        (lambda p: p["app"].update(environment={"APP_X": True}),
         "app:environment:APP_X: expected a string or a number (quote yes/no/on/off), "
         "got bool True"),
        (lambda p: p["app"].update(environment={"APP_DB_PASSWORD": "x"}),
         "app:environment:APP_DB_PASSWORD: secrets do not belong in pillar"),
        (lambda p: p["nginx"]["tls"].update(private_key="x"),
         "nginx:tls:private_key: secrets do not belong in pillar"),
        (lambda p: p.update(golden=["app"]), "golden: expected a mapping, got list"),
        (lambda p: p["golden"].update(platform="gcp"),
         "golden:platform: expected 'aws' or 'twin', got 'gcp'"),
        (lambda p: p["app"].update(timeouts={"chat_read": "300s"}),
         "app:timeouts:chat_read: expected"),
        (lambda p: p["app"].update(timeouts={"margin": 0}), "app:timeouts:margin: expected"),
        (lambda p: p["app"].update(timeouts={"chat_read_timeout": 300}),
         "app:timeouts:chat_read_timeout: unknown key"),
    ],
)  # fmt: skip
def test_a_bad_pillar_is_refused_naming_the_key(guard, mutate, problem):
    pillar = app_pillar()
    mutate(pillar)
    problems = guard.check(pillar, "app")
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_a_secret_looking_key_is_reported_once_as_a_secret(guard):
    pillar = app_pillar()
    pillar["app"]["db_password"] = {"value": 5}
    assert guard.check(pillar, "app") == [
        "app:db_password: secrets do not belong in pillar (use SSM Parameter Store)"
    ]


def test_sections_the_schema_does_not_know_are_left_alone(guard):
    pillar = app_pillar()
    pillar["mine"] = {"anything": 1, "token": "x"}
    assert guard.check(pillar, "app") == []


def test_without_nulls_leaves_out_null_keys_at_any_depth_but_inside_kept_keys(guard):
    section = {
        "apt_retries": None,
        "tls": {"enabled": None, "certificate": "/c.pem"},
        "extra_packages": [None],
        "services": {"jobs": {"port": None, "image": "api"}},
    }
    assert guard.without_nulls(section, ["services"]) == {
        "tls": {"certificate": "/c.pem"},
        "extra_packages": [None],
        "services": {"jobs": {"port": None, "image": "api"}},
    }
    assert guard.without_nulls(section)["services"] == {"jobs": {"image": "api"}}
    assert guard.without_nulls(None) == {}
    assert section["apt_retries"] is None  # the pillar itself is not changed
