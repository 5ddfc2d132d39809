"""The built sample images, run in Docker on this machine (ports published on 127.0.0.1
only). Needs the base image from `golden base-image`; the images are built (or reused, when
unchanged) by the same code as `golden app-images build`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from golden.twin import appimages

from .conftest import free_port

pytestmark = pytest.mark.twin


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built():
    """Both images and their archive in the project's build/images (what `make` makes):
    reused when unchanged, so a warm run costs a second, not a rebuild and a 0.5 GB save."""
    out = REPO / appimages.DEFAULT_OUT
    result = appimages.build(out=str(out), wheelhouse=str(REPO / appimages.DEFAULT_WHEELHOUSE))
    return result, out


def _docker(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *argv], capture_output=True, text=True, check=check, timeout=120
    )


@pytest.fixture
def run_image():
    """Starts a container from an image with its port on 127.0.0.1; always removed."""
    names: list[str] = []

    def start(ref: str, container_port: int, env: dict[str, str] | None = None) -> tuple[str, int]:
        name = f"golden-sampletest-{uuid.uuid4().hex[:10]}"
        port = free_port()
        argv = ["run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{container_port}"]
        for key, value in (env or {}).items():
            argv += ["-e", f"{key}={value}"]
        names.append(name)
        _docker(*argv, ref)
        return name, port

    yield start
    for name in names:
        _docker("rm", "-f", "-v", name, check=False)


def _wait_healthy(port: int, path: str = "/health", timeout: float = 30.0) -> float:
    start = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"no 200 from 127.0.0.1:{port}{path} within {timeout}s: {last}")


def test_backend_image_serves_health_and_hashes_a_streamed_upload(built, run_image):
    name, port = run_image(appimages.COMPONENTS[0].ref, 8000, {"REPLICA_NAME": "img-backend-1"})
    _wait_healthy(port, timeout=120)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
        assert json.load(r) == {"status": "ok", "replica": "img-backend-1"}

    payload = os.urandom(4 * 1024 * 1024 + 123)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/upload?name=test.bin",
        data=payload,
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        body = json.load(r)
    assert body["size"] == len(payload)
    assert body["sha256"] == hashlib.sha256(payload).hexdigest()


def _peak_rss_kb(name: str) -> int:
    script = "for p in $(pgrep -f gunicorn); do grep VmHWM /proc/$p/status; done"
    lines = _docker("exec", name, "sh", "-c", script).stdout.split("\n")
    return max(int(line.split()[1]) for line in lines if line.strip())


def test_backend_image_uploads_a_large_body_without_holding_it_in_memory(built, run_image):
    name, port = run_image(appimages.COMPONENTS[0].ref, 8000, {"WEB_CONCURRENCY": "1"})
    _wait_healthy(port)
    before = _peak_rss_kb(name)
    payload = os.urandom(64 * 1024 * 1024)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/upload", data=payload, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        assert json.load(r)["sha256"] == hashlib.sha256(payload).hexdigest()
    grown_mb = (_peak_rss_kb(name) - before) / 1024
    assert grown_mb < 24, f"worker peak memory grew {grown_mb:.0f} MB for a 64 MB upload"


def test_backend_image_runs_gunicorn_workers_as_a_non_root_user(built, run_image):
    name, port = run_image(appimages.COMPONENTS[0].ref, 8000, {"WEB_CONCURRENCY": "3"})
    _wait_healthy(port)
    assert _docker("exec", name, "id", "-u").stdout.strip() == str(appimages.APP_UID)
    processes = _docker("exec", name, "ps", "-eo", "user:12,args").stdout.splitlines()
    workers = [p for p in processes if "gunicorn" in p]
    assert len(workers) == 1 + 3, processes
    assert all(p.split()[0] == "app" for p in workers), workers
    # Code is not writable by the app user.
    assert _docker("exec", name, "touch", "/app/x", check=False).returncode != 0


def _uvloop_mapped_by_worker(name: str) -> list[bool]:
    """For each gunicorn worker (not the master), whether uvloop's library is mapped."""
    script = (
        "m=$(pgrep -o -f gunicorn); for p in $(pgrep -P $m); do "
        "if grep -q uvloop /proc/$p/maps; then echo yes; else echo no; fi; done"
    )
    return [line == "yes" for line in _docker("exec", name, "sh", "-c", script).stdout.split()]


@pytest.mark.parametrize(("loop", "uvloop_expected"), [(None, False), ("uvloop", True)])
def test_backend_image_workers_run_the_event_loop_uvicorn_loop_names(
    built, run_image, loop, uvloop_expected
):
    # asyncio unless UVICORN_LOOP=uvloop: uvicorn-worker's own class takes uvloop, which
    # the image installs, and whose scheduling left requests seconds late at saturation.
    env = {"WEB_CONCURRENCY": "2", **({"UVICORN_LOOP": loop} if loop else {})}
    name, port = run_image(appimages.COMPONENTS[0].ref, 8000, env)
    _wait_healthy(port)
    # /health answers from the first worker; each worker logs this once its event loop
    # runs (uvicorn's server, inside the loop), so both have chosen theirs by then.
    deadline = time.monotonic() + 30
    while _docker("logs", name).stderr.count("Started server process") < 2:
        assert time.monotonic() < deadline, _docker("logs", name).stderr[-2000:]
        time.sleep(0.2)
    assert _uvloop_mapped_by_worker(name) == [uvloop_expected] * 2


def test_backend_image_refuses_an_unknown_uvicorn_loop_naming_it(built, run_image):
    name, _ = run_image(appimages.COMPONENTS[0].ref, 8000, {"UVICORN_LOOP": "trio"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "false":
            break
        time.sleep(0.2)
    assert _docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() != "0"
    logs = _docker("logs", name).stderr
    assert "UVICORN_LOOP must be one of asyncio, uvloop, got 'trio'" in logs


def test_backend_image_stops_promptly_on_sigterm(built, run_image):
    name, port = run_image(appimages.COMPONENTS[0].ref, 8000)
    _wait_healthy(port)
    # Exit code 0: it ended on SIGTERM; a container still running after the 60 s grace
    # would have been killed (137).
    _docker("stop", "-t", "60", name)
    assert _docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"


def test_frontend_image_serves_the_site(built, run_image):
    name, port = run_image(appimages.COMPONENTS[1].ref, 3000)
    _wait_healthy(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert "Ask the knowledge base" in r.read().decode()
    assert _docker("exec", name, "id", "-u").stdout.strip() == str(appimages.APP_UID)


def test_archive_and_manifest_hold_both_images_by_id(built):
    result, out = built
    manifest = json.loads((out / "sample-app.json").read_text())
    for component in appimages.COMPONENTS:
        entry = manifest["images"][component.name]
        assert entry["ref"] == component.ref
        local_id = _docker("image", "inspect", "-f", "{{.Id}}", component.ref).stdout.strip()
        assert entry["id"] == local_id
    tar = Path(out / manifest["archive"]["path"])
    assert tar.stat().st_size == manifest["archive"]["bytes"]
    with tarfile.open(tar) as archive:
        saved = json.load(archive.extractfile("manifest.json"))
    saved_ids = {"sha256:" + Path(item["Config"]).stem: item["RepoTags"] for item in saved}
    for entry in manifest["images"].values():
        assert saved_ids[entry["id"]] == [entry["ref"]]


def test_a_second_build_with_unchanged_inputs_rebuilds_nothing(built):
    _, out = built
    again = appimages.build(out=str(out), wheelhouse=str(REPO / appimages.DEFAULT_WHEELHOUSE))
    assert {name: info["action"] for name, info in again["images"].items()} == {
        "backend": "reused",
        "frontend": "reused",
    }
    assert again["archive"]["written"] is False
    assert again["seconds"] < 10
