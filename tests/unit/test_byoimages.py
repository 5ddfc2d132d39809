"""The bring-your-own-app images (golden.twin.byoimages, examples/): what is an input of
an image, when a build is reused, how each is built, and that the examples keep the app
contract (docs/app-contract.md) with nothing of golden's inside. No Docker here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from golden.core.errors import ConfigError
from golden.twin import byoimages

REPO = Path(__file__).resolve().parents[2]
API, WEB = byoimages.IMAGES


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_host_build_output_and_caches_are_not_inputs(tmp_path):
    root = _tree(tmp_path, {
        "Dockerfile": "FROM x\n", "app/page.js": "x", "app/__pycache__/m.cpython-311.pyc": "",
        "node_modules/next/package.json": "{}", ".next/standalone/server.js": "",
        "wheels/a-1-py3-none-any.whl": "", "m.pyc": "", "lib/.next-config.js": "x",
    })  # fmt: skip
    assert byoimages.source_files(root) == ["Dockerfile", "app/page.js", "lib/.next-config.js"]


def test_the_inputs_hash_follows_files_base_and_toolchain_only():
    files = {"Dockerfile": b"FROM x\n", "app/main.py": b"print(1)\n"}
    tools = {"python": "3.11", "node": "v20.20.2"}
    first = byoimages.inputs_hash(WEB, "sha256:base", files, tools)
    # The same inputs in another order: the same image.
    assert byoimages.inputs_hash(WEB, "sha256:base", dict(reversed(files.items())),
                                 dict(reversed(tools.items()))) == first  # fmt: skip
    changed = [
        byoimages.inputs_hash(WEB, "sha256:base", {**files, "app/main.py": b"print(2)\n"}, tools),
        byoimages.inputs_hash(WEB, "sha256:base", {**files, "app/new.py": b""}, tools),
        byoimages.inputs_hash(WEB, "sha256:other", files, tools),
        byoimages.inputs_hash(WEB, "sha256:base", files, {**tools, "node": "v22.1.0"}),
        byoimages.inputs_hash(API, "sha256:base", files, tools),
    ]
    assert first not in changed and len(set(changed)) == len(changed)
    assert re.fullmatch(r"[0-9a-f]{20}", first)


@pytest.mark.parametrize(("image", "files", "missing"), [
    (API, ["Dockerfile"], ["requirements.txt"]),
    (WEB, ["Dockerfile", "package.json", "next.config.mjs"], ["package-lock.json"]),
    (WEB, [], ["Dockerfile", "package.json", "package-lock.json", "next.config.mjs"]),
])  # fmt: skip
def test_a_folder_missing_what_its_build_needs_is_named(image, files, missing):
    assert byoimages.missing_inputs(image, files) == missing


def test_the_examples_hold_what_their_builds_need():
    for image in byoimages.IMAGES:
        files = byoimages.source_files(byoimages.EXAMPLES / image.source)
        assert byoimages.missing_inputs(image, files) == [], image.source


def test_the_python_build_runs_without_network_and_both_are_labelled_with_their_inputs():
    api = byoimages.docker_build_argv(API, Path("/ctx"), "golden/base:bookworm", "abc")
    web = byoimages.docker_build_argv(WEB, Path("/ctx"), "golden/base:bookworm", "def")
    assert api[api.index("--network") + 1] == "none"
    # Debian's nodejs comes from apt inside the build: the Next.js build keeps the network.
    assert "--network" not in web
    for argv, inputs, image in ((api, "abc", API), (web, "def", WEB)):
        assert f"{byoimages.INPUTS_LABEL}={inputs}" in argv and argv[-1] == "/ctx"
        assert argv[argv.index("-t") + 1] == image.ref
        assert "BASE=golden/base:bookworm" in argv and "--pull=false" in argv


def test_a_declaration_is_merged_into_the_role_pillar_section_by_section():
    role = "golden:\n  role: app\napp:\n  backend_replicas: 2\n  image_archive: /x/sample-app.tar\n"
    merged = yaml.safe_load(byoimages.merged_role_pillar(role, {
        "app": {"image_archive": "/var/tmp/golden/images/byo-app.tar", "services": {"a": {}}},
        "nginx": {"hsts": False}}))  # fmt: skip
    assert merged == {"golden": {"role": "app"},
                      "app": {"backend_replicas": 2, "services": {"a": {}},
                              "image_archive": "/var/tmp/golden/images/byo-app.tar"},
                      "nginx": {"hsts": False}}  # fmt: skip
    with pytest.raises(ConfigError, match="nginx: expected a mapping"):
        byoimages.merged_role_pillar(role, {"nginx": "x"})


def _dockerfile(source: str) -> list[str]:
    text = (byoimages.EXAMPLES / source / "Dockerfile").read_text()
    lines = [line for line in text.replace("\\\n", " ").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]  # fmt: skip
    return lines


def _cmd(lines: list[str]) -> list[str]:
    return json.loads(next(line for line in lines if line.startswith("CMD "))[4:])


def test_the_fastapi_image_is_multi_stage_gunicorn_with_uvicorn_workers_and_no_bind():
    lines = _dockerfile("fastapi-app")
    assert lines[0] == "ARG BASE=golden/base:bookworm"
    assert [line for line in lines if line.startswith("FROM")] == [
        "FROM ${BASE} AS build", "FROM ${BASE}"]
    assert _cmd(lines) == ["gunicorn", "-k", "uvicorn.workers.UvicornWorker",
                           "--no-control-socket", "app.main:app"]
    # golden tells it where to listen (GUNICORN_CMD_ARGS) and how many workers
    # (WEB_CONCURRENCY): a --bind or -w on the command line would win over both.
    assert not {"--bind", "-b", "-w", "--workers"} & set(_cmd(lines))
    assert any("--no-index --find-links /tmp/wheels --require-hashes" in line for line in lines)


def test_the_nextjs_image_serves_the_standalone_build_with_debians_node():
    lines = _dockerfile("nextjs-app")
    assert lines[0] == "ARG BASE=golden/base:bookworm"
    assert _cmd(lines) == ["node", "server.js"]
    assert any("apt-get" in line and " install " in line and "nodejs" in line for line in lines)
    assert "COPY .next/standalone/ ./" in lines
    config = (byoimages.EXAMPLES / "nextjs-app" / "next.config.mjs").read_text()
    assert re.search(r'output:\s*"standalone"', config)


def _node_range_admits(spec: str, version: tuple[int, int, int]) -> bool:
    """npm's engines range in the forms Next.js uses (^a.b.c, >= a.b.c, joined by ||)."""
    for alternative in spec.split("||"):
        text = alternative.strip()
        low = tuple(int(x) for x in re.search(r"(\d+)\.(\d+)\.(\d+)", text).groups())
        if text.startswith("^") and version[0] == low[0] and version >= low:
            return True
        if text.startswith(">=") and version >= low:
            return True
    return False


def test_the_locked_next_supports_the_node_debian_bookworm_ships():
    # bookworm and bookworm-security: nodejs 18.20.4 (apt-cache policy nodejs, 2026-11-30).
    lock = json.loads((byoimages.EXAMPLES / "nextjs-app" / "package-lock.json").read_text())
    next_pkg = lock["packages"]["node_modules/next"]
    assert _node_range_admits(next_pkg["engines"]["node"], (18, 20, 4)), next_pkg["version"]
    assert not _node_range_admits(">=20.9.0", (18, 20, 4))  # Next 16's range would not


def test_the_examples_carry_nothing_of_goldens():
    for image in byoimages.IMAGES:
        folder = byoimages.EXAMPLES / image.source
        for rel in byoimages.source_files(folder):
            if rel.endswith((".py", ".js", ".mjs", ".json")) and rel != "package-lock.json":
                text = (folder / rel).read_text()
                # No import of golden, none of its paths or the sample's BIND variable.
                assert not re.search(r"(?m)^\s*(from|import)\s+golden\b|/etc/golden|\bBIND\b",
                                     text), f"{image.source}/{rel}"  # fmt: skip


def test_the_examples_pillar_tree_declares_their_services_and_uploads_their_archive(tmp_path):
    from golden.bake import staging

    tree = byoimages.pillar_tree(tmp_path / "pillar")
    role = yaml.safe_load((tree / "roles" / "app.sls").read_text())
    assert sorted(role["app"]["services"]) == ["api", "web"]
    assert role["app"]["healthz_service"] == "api"
    # The role's other settings stay (replicas, worker cap, nginx behind the ALB).
    assert role["app"]["backend_replicas"] == 2 and role["nginx"]["hsts"] is True
    assert staging.archive_name(tree, "app") == "byo-app"
    # The repository's own pillar is untouched: the sample stays the default.
    assert staging.archive_name(REPO / "pillar", "app") == "sample-app"
