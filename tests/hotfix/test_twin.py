"""Hotfix and drift on the local twin (`golden hotfix local`, `golden drift local`): the
real instance command, Salt, nginx and the app's replicas, under a steady bounded load on
127.0.0.1. One twin for the module; the tests run in order, each from the state the
previous one left (the fixes pile up like they would on an instance)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from golden.core.shell import run
from golden.twin import build as twin
from hotfix_support import commit_all, edit

pytestmark = pytest.mark.twin
PORTS = range(18480, 18500)


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.fail(f"no free port in {PORTS.start}-{PORTS.stop - 1} for the twin")


@pytest.fixture(scope="module")
def twin_app(local_standins):
    spec = twin.TwinSpec(
        role="app",
        name=f"golden-hotfix-{uuid.uuid4().hex[:6]}",
        port=_free_port(),
        seed_dir=str(local_standins),
    )
    result = twin.up(spec, wait=180)
    yield {**result, "name": spec.name, "port": spec.port}
    twin.down(spec.name)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    import shutil

    from hotfix_support import REPO, git

    path = tmp_path_factory.mktemp("hotfix-twin") / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for tree in ("salt", "pillar", "schemas"):
        shutil.copytree(
            REPO / tree, path / tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    commit_all(path, "the state tree the twin was built from")
    return path


def get(port: int, path: str, *, ip: str = "10.77.0.1", timeout: float = 10):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"X-Forwarded-For": ip}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Load:
    """Steady GETs on the API, the health check and the frontend while a hotfix runs;
    bounded in time and count. Every answer but 200, and every error, is a failure."""

    PATHS = ("/api/config", "/healthz", "/")

    def __init__(
        self,
        port: int,
        threads: int = 2,
        pause: float = 0.05,
        max_seconds: float = 400,
        max_requests: int = 30000,
    ):
        self.port, self.pause = port, pause
        self.deadline = time.monotonic() + max_seconds
        self.max_requests = max_requests
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)
        ]

    def _run(self, n: int) -> None:
        i = 0
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            with self._lock:
                if self.ok + len(self.failures) >= self.max_requests:
                    return
            i += 1
            path = self.PATHS[i % len(self.PATHS)]
            try:
                status, _, _ = get(self.port, path, ip=f"10.78.{n}.{i % 250}")
                failure = None if status == 200 else f"{path}: {status}"
            except OSError as exc:
                failure = f"{path}: {exc!r}"
            with self._lock:
                if failure:
                    self.failures.append(failure)
                else:
                    self.ok += 1
            time.sleep(self.pause)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        time.sleep(1)
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(1)
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def hotfix_local(fleet_cli, twin_app, repo, *extra):
    return fleet_cli(
        "hotfix",
        "local",
        "--twin",
        twin_app["name"],
        "--repo",
        repo,
        "--timeout-minutes",
        "15",
        "--json",
        *extra,
    )


@pytest.fixture(scope="module")
def cli():
    from click.testing import CliRunner
    from golden.cli import main

    def invoke(*args):
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        out = json.loads(result.stdout) if result.stdout.strip() else {}
        return result.exit_code, out, result.stderr

    return invoke


def changed_ids(out: dict) -> list[str]:
    return [s["id"] for s in (out.get("record") or {}).get("changed", [])]


def test_nginx_setting_hotfix_drops_no_request_and_shows(twin_app, repo, cli):
    port = twin_app["port"]
    assert "Strict-Transport-Security" in get(port, "/healthz")[1]
    edit(repo, "pillar/roles/app.sls", "hsts: true", "hsts: false")
    commit_all(repo, "nginx: no HSTS header")
    with Load(port) as load:
        code, out, err = hotfix_local(cli, twin_app, repo)
    assert code == 0, err
    assert load.failures == [] and load.ok > 50, (load.ok, load.failures[:5])
    assert {"nginx-site-config-managed", "nginx-service-running"} <= set(changed_ids(out))
    assert "Strict-Transport-Security" not in get(port, "/healthz")[1]


def test_backend_env_hotfix_rolls_replicas_one_at_a_time_dropping_nothing(twin_app, repo, cli):
    port = twin_app["port"]
    mark = uuid.uuid4().hex[:8]
    edit(
        repo,
        "pillar/roles/app.sls",
        "app:\n",
        f"app:\n  environment:\n    APP_HOTFIX_MARK: '{mark}'\n",
    )
    commit_all(repo, "app: a new setting")
    with Load(port) as load:
        code, out, err = hotfix_local(cli, twin_app, repo)
    assert code == 0, err
    assert load.failures == [] and load.ok > 50, (load.ok, load.failures[:5])
    roll = next(
        s for s in out["record"]["changed"] if s["id"] == "app-replicas-rolled-on-config-change"
    )
    recreated = [line.split(":")[0] for line in roll["detail"] if "recreated" in line]
    assert recreated == ["backend-1", "backend-2"], roll["detail"]
    seen = {}
    for i in range(20):
        status, _, body = get(port, "/api/config", ip=f"10.79.0.{i}")
        assert status == 200
        config = json.loads(body)
        seen[config["replica"]] = config["app"].get("APP_HOTFIX_MARK")
    assert seen == {"backend-1": mark, "backend-2": mark}


def test_the_same_bundle_again_changes_nothing(twin_app, repo, cli):
    code, out, err = hotfix_local(cli, twin_app, repo)
    assert code == 0, err
    assert out["rows"][0]["changed"] == 0 and changed_ids(out) == []


def test_a_failing_state_exits_non_zero_and_revert_restores_the_tree(twin_app, repo, cli):
    name = twin_app["name"]
    good = json.loads(
        run(
            [
                "docker",
                "exec",
                name,
                "/opt/salt/bin/golden",
                "instance",
                "hotfix",
                "--status",
                "--json",
            ]
        ).stdout
    )["tree"]
    edit(repo, "pillar/roles/app.sls", "client_max_body_size: 100m", "client_max_body_size: 100zz")
    commit_all(repo, "nginx: a value nginx refuses")
    code, out, err = hotfix_local(cli, twin_app, repo)
    assert code == 4
    failed = [s["id"] for s in out["record"]["failed"]]
    assert "nginx-config-valid" in failed and "nginx-config-valid" in out["rows"][0]["note"]
    assert get(twin_app["port"], "/healthz")[0] == 200, "nginx kept its running config"
    code, out, err = cli("hotfix", "local", "--twin", name, "--revert", "--json")
    assert code == 0, err
    assert out["record"]["tree"]["bundle_sha256"] == good["bundle_sha256"]
    pillar = run(["docker", "exec", name, "cat", "/srv/pillar/roles/app.sls"]).stdout
    assert b"client_max_body_size: 100m" in pillar
    site = run(["docker", "exec", name, "cat", "/etc/nginx/conf.d/golden.conf"]).stdout
    assert b"client_max_body_size 100m;" in site


def test_a_manual_edit_is_drift_until_the_next_highstate(twin_app, cli):
    name = twin_app["name"]
    code, out, err = cli("drift", "local", "--twin", name, "--json")
    assert code == 0, (err, out)
    run(
        [
            "docker",
            "exec",
            name,
            "sh",
            "-c",
            "echo '# edited by hand' >> /etc/nginx/conf.d/golden.conf",
        ]
    )
    code, out, err = cli("drift", "local", "--twin", name, "--json")
    assert code == 1 and out["rows"][0]["drifted"] is True
    assert "nginx-site-config-managed" in changed_ids(out)
    run(
        [
            "docker",
            "exec",
            name,
            "/opt/salt/bin/salt-call",
            "--local",
            "--out=json",
            "state.highstate",
        ],
        timeout=900,
    )
    code, out, err = cli("drift", "local", "--twin", name, "--json")
    assert code == 0 and out["rows"][0]["drifted"] is False, out
