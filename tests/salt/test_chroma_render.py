"""The chroma role's state tree renders for every platform and OS, pins its image, keeps
Chroma on loopback behind the token-checking proxy, and opens only ssh and the proxy
port. Templates are rendered here with the context the highstate would pass them."""

from __future__ import annotations

import importlib.util
import json
import shutil

import jinja2
import pytest
import yaml

from .conftest import REPO

IMAGE_ID = "sha256:" + "ab" * 32
DIGEST_REF = "123456789012.dkr.ecr.us-east-1.amazonaws.com/chroma@sha256:" + "cd" * 32


def args(highstate: dict, sid: str) -> dict:
    """The arguments of one state, as one dict."""
    state = highstate[sid]
    fun_args = next(v for k, v in state.items() if not k.startswith("__"))
    merged = {}
    for item in fun_args:
        if isinstance(item, dict):
            merged.update(item)
    return merged


def render(template: str, context: dict) -> str:
    path = REPO / "salt" / template.removeprefix("salt://")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(path.read_text()).render(**context)


def chroma_pillar_root(tmp_path, **chroma):
    """The repository's pillar with the chroma role's section changed."""
    root = tmp_path / "pillar"
    shutil.copytree(REPO / "pillar", root)
    path = root / "roles" / "chroma.sls"
    data = yaml.safe_load(path.read_text())
    data["chroma"].update(chroma)
    path.write_text(yaml.safe_dump(data))
    return root


def manifest_file(tmp_path):
    path = tmp_path / "chroma.json"
    path.write_text(
        json.dumps({"images": {"chroma": {"ref": "golden-sample/chroma:dev", "id": IMAGE_ID}}})
    )
    return path


@pytest.mark.parametrize("os_name", ["Debian", "Ubuntu"])
@pytest.mark.parametrize("platform", ["aws", "twin"])
def test_chroma_role_renders_server_volume_proxy_and_logs(minion_factory, platform, os_name):
    ids = set(minion_factory("chroma", platform, os_name).show_highstate())
    for sid in (
        "chroma-server-running",
        "chroma-volume-mounted",
        "chroma-proxy-running",
        "chroma-proxy-site-config-managed",
        "chroma-proxy-auth-follows-token-file",
        "chroma-cloudwatch-logs-config-managed",
        "hardening-firewall-rules-managed",
    ):
        assert sid in ids
    # The app's formulas stay out: their nginx config would serve the app on port 80.
    assert not any(sid.startswith(("app-", "nginx-")) for sid in ids)


def test_archive_image_is_loaded_and_pinned_by_id(minion_factory, tmp_path):
    manifest = manifest_file(tmp_path)
    root = chroma_pillar_root(tmp_path, image_manifest=str(manifest))
    highstate = minion_factory("chroma", "aws", "Ubuntu", pillar_root=root).show_highstate()
    load = args(highstate, "chroma-image-loaded-from-archive")
    assert load["unless"] == f"docker image inspect {IMAGE_ID}"
    unit = render(
        "chroma/files/chroma.service.j2", args(highstate, "chroma-server-unit-managed")["context"]
    )
    run = unit.split("ExecStart=")[1].split("ExecStop=")[0]
    assert run.rstrip().endswith(IMAGE_ID)
    assert "chroma-image-pinned" not in highstate


def test_without_a_manifest_the_highstate_fails_naming_it(minion_factory, tmp_path):
    missing = tmp_path / "nowhere" / "chroma.json"
    root = chroma_pillar_root(tmp_path, image_manifest=str(missing))
    highstate = minion_factory("chroma", "aws", "Debian", pillar_root=root).show_highstate()
    failing = args(highstate, "chroma-image-pinned")
    assert "no image pin found" in failing["name"]
    # Hotfix highstates fall back to the pin kept on the image, so that is what is named.
    assert "/etc/golden/chroma-images.json" in failing["name"]


def test_registry_image_is_pulled_by_digest(minion_factory, tmp_path):
    root = chroma_pillar_root(tmp_path, image_source="registry", image=DIGEST_REF)
    highstate = minion_factory("chroma", "aws", "Ubuntu", pillar_root=root).show_highstate()
    assert args(highstate, "chroma-image-pulled-by-digest")["name"] == f"docker pull {DIGEST_REF}"
    unit = render(
        "chroma/files/chroma.service.j2", args(highstate, "chroma-server-unit-managed")["context"]
    )
    assert DIGEST_REF in unit


def test_chroma_binds_loopback_and_proxy_checks_the_bearer_token(minion_factory, tmp_path):
    root = chroma_pillar_root(tmp_path, image_manifest=str(manifest_file(tmp_path)))
    highstate = minion_factory("chroma", "aws", "Ubuntu", pillar_root=root).show_highstate()
    context = args(highstate, "chroma-proxy-site-config-managed")["context"]
    conf = render("chroma/files/chroma-proxy.conf.j2", context)
    assert "listen 8000 default_server" in conf
    assert "server 127.0.0.1:8001" in conf
    assert "include /etc/nginx/chroma/bearer.map;" in conf
    assert 'proxy_set_header Authorization "";' in conf
    healthz = conf.split("location = /healthz")[1].split("}")[0]
    assert "proxy_pass http://chroma/api/v2/heartbeat;" in healthz
    everything_else = conf.split("location / {")[1]
    assert "return 401" in everything_else and "return 403" in everything_else
    unit = render(
        "chroma/files/chroma.service.j2", args(highstate, "chroma-server-unit-managed")["context"]
    )
    assert "--network host" in unit
    assert "--env GOLDEN_CHROMA_HOST=127.0.0.1 --env GOLDEN_CHROMA_PORT=8001" in unit
    assert "--volume /var/lib/chroma:/data:rw" in unit
    assert "ExecStartPre=/usr/bin/mountpoint -q /var/lib/chroma" in unit
    assert "Requires=docker.service golden-chroma-volume.service" in unit


def test_token_never_comes_from_the_state_tree(minion_factory):
    """Outside a build nothing in the highstate writes the token: it comes from SSM."""
    highstate = minion_factory("chroma", "aws", "Ubuntu").show_highstate()
    text = json.dumps(highstate)
    assert "chroma-proxy-build-token-present" not in highstate
    assert not any(args(highstate, sid).get("name") == "/etc/chroma/token" for sid in highstate)
    assert "token_urlsafe" not in text


@pytest.mark.parametrize("platform,kind", [("aws", "ebs"), ("twin", "directory")])
def test_volume_is_found_by_tag_on_aws_and_a_directory_in_the_twin(minion_factory, platform, kind):
    highstate = minion_factory("chroma", platform, "Debian").show_highstate()
    settings = args(highstate, "chroma-volume-settings-managed")["dataset"]
    assert settings["kind"] == kind
    assert settings["mount_point"] == "/var/lib/chroma"
    if kind == "ebs":
        assert settings["instance_tag"] == "golden:data-volume"
        assert settings["wait_seconds"] == 300
    else:
        twin = yaml.safe_load((REPO / "pillar" / "twin.sls").read_text())
        assert settings["directory"] == twin["chroma"]["volume"]["directory"]


@pytest.mark.parametrize("role,ports", [("chroma", {22, 8000}), ("app", {22, 80})])
def test_firewall_opens_ssh_and_the_roles_own_port_only(minion_factory, role, ports):
    highstate = minion_factory(role, "aws", "Ubuntu").show_highstate()
    context = args(highstate, "hardening-firewall-rules-managed")["context"]
    ruleset = render("hardening/files/nftables.conf.j2", context)
    opened = {
        int(line.split("dport")[1].split()[0])
        for line in ruleset.splitlines()
        if "tcp dport" in line
    }
    assert opened == ports


def test_cloudwatch_ships_proxy_and_server_logs_under_the_prefix(minion_factory):
    highstate = minion_factory("chroma", "aws", "Debian").show_highstate()
    fragment = args(highstate, "chroma-cloudwatch-logs-config-managed")
    files = fragment["dataset"]["logs"]["logs_collected"]["files"]["collect_list"]
    groups = {f["file_path"]: f["log_group_name"] for f in files}
    assert groups["/var/log/nginx/chroma-access.log"].endswith("/chroma/proxy-access")
    assert groups["/var/log/chroma/server.log"].endswith("/chroma/server")
    # Appended after the main config is (re)loaded, which would otherwise drop it.
    appended = args(highstate, "chroma-cloudwatch-logs-config-appended")
    assert "-a append-config" in appended["name"]
    assert {"cmd": "cloudwatch-agent-config-loaded"} in appended["onchanges"]


# -- pillar validation ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden_pillar():
    spec = importlib.util.spec_from_file_location(
        "golden_pillar", REPO / "salt" / "_modules" / "golden_pillar.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chroma_pillar():
    pillar = yaml.safe_load((REPO / "pillar" / "roles" / "chroma.sls").read_text())
    pillar["golden"]["platform"] = "aws"
    return pillar


def test_shipped_chroma_pillar_is_valid(golden_pillar):
    assert golden_pillar.check(chroma_pillar(), "chroma") == []


BAD_CHROMA = {
    "no section": (lambda p: p.pop("chroma"), "chroma: required section is missing"),
    "no image source": (
        lambda p: p["chroma"].pop("image_source"),
        "chroma:image_source: required key is missing",
    ),
    "registry without digest": (
        lambda p: p["chroma"].update(image_source="registry", image="chroma:latest"),
        "chroma:image: expected an image pinned by digest",
    ),
    "proxy port not opened": (
        lambda p: p["chroma"].update(proxy_port=8443),
        "hardening:extra_tcp_ports: must include chroma:proxy_port (8443)",
    ),
    "same ports": (
        lambda p: p["chroma"].update(port=8000),
        "chroma:proxy_port: must differ from chroma:port (8000)",
    ),
    "wrong volume kind": (
        lambda p: p["chroma"]["volume"].update(kind="nfs"),
        "chroma:volume:kind: expected 'ebs' or 'directory'",
    ),
    "wrong type": (
        lambda p: p["chroma"]["volume"].update(wait_seconds="5m"),
        "chroma:volume:wait_seconds: expected integer",
    ),
    "token in pillar": (
        lambda p: p["chroma"].update(token="x" * 40),
        "chroma:token: secrets do not belong in pillar",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CHROMA))
def test_bad_chroma_pillar_is_refused_naming_the_key(golden_pillar, case):
    mutate, message = BAD_CHROMA[case]
    pillar = chroma_pillar()
    mutate(pillar)
    problems = golden_pillar.check(pillar, "chroma")
    assert any(message in problem for problem in problems), problems


def test_bad_chroma_pillar_stops_the_highstate(minion_factory, tmp_path):
    root = chroma_pillar_root(tmp_path, proxy_port=9000)
    proc = minion_factory("chroma", "aws", "Debian", pillar_root=root).call(
        "state.show_highstate", check=False
    )
    assert proc.returncode != 0
    assert "hardening:extra_tcp_ports: must include chroma:proxy_port (9000)" in (
        proc.stdout + proc.stderr
    )
