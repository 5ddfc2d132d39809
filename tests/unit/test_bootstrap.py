"""scripts/bootstrap.sh: what a fresh machine lacks for `make local` / `make test`, and
what the script does about it, checked without changing this machine: the script runs
with a PATH of stand-in programs (a docker client that reaches no daemon, a fake apt-get
that only leaves a mark), and the non-root path runs as the user `nobody`."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "bootstrap.sh"
BASH = shutil.which("bash")
# Plain tools the script itself uses; everything else on PATH is a stand-in.
REAL_TOOLS = ("grep", "id", "sed", "cat")
LOCAL_PACKAGES = ["docker.io", "debootstrap", "git", "openssl", "curl", "python3-venv"]
TEST_PACKAGES = LOCAL_PACKAGES + [
    "packer", "iproute2", "postgresql", "redis-server", "haproxy", "lynis", "pgloader",
    "nodejs", "npm", "chromium"]
NO_DAEMON = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)


@pytest.fixture
def machine():
    """A world readable folder (the `nobody` user must reach it) with a bin/ for PATH
    and a copy of the script; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="golden-bootstrap-"))
    os.chmod(root, 0o755)
    (root / "bin").mkdir(mode=0o755)
    (root / "marks").mkdir()
    os.chmod(root / "marks", 0o777)
    shutil.copy2(SCRIPT, root / "bootstrap.sh")
    os.chmod(root / "bootstrap.sh", 0o755)
    for tool in REAL_TOOLS:
        (root / "bin" / tool).symlink_to(shutil.which(tool))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def stand_in(root: Path, name: str, script: str = "exit 0") -> None:
    path = root / "bin" / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def docker_client(root: Path, *, daemon: bool) -> None:
    """The docker client this machine type comes with; `docker info` answers only with a
    daemon."""
    answer = "exit 0" if daemon else f'echo "{NO_DAEMON}" >&2; exit 1'
    stand_in(root, "docker", f'[ "$1" = info ] && {{ {answer}; }}; exit 0')


def everything(root: Path) -> None:
    for name in ("dockerd", "debootstrap", "git", "openssl", "curl", "packer", "ip",
                 "pg_ctlcluster", "redis-server", "haproxy", "lynis", "pgloader", "node", "npm",
                 "chromium"):  # fmt: skip
        stand_in(root, name)
    stand_in(root, "python3")  # answers `python3 -c 'import ensurepip, venv'` with 0
    docker_client(root, daemon=True)


def bootstrap(root: Path, *args: str, user: str | None = None) -> subprocess.CompletedProcess:
    argv = [BASH, str(root / "bootstrap.sh"), *args]
    if user:
        argv = [shutil.which("runuser"), "-u", user, "--", *argv]
    env = {"PATH": str(root / "bin"), "HOME": str(root)}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def install_line(out: str) -> str:
    return next(line for line in out.splitlines() if "apt-get install" in line)


@pytest.mark.parametrize(("target", "packages"), [("local", LOCAL_PACKAGES),
                                                  ("test", TEST_PACKAGES)])  # fmt: skip
def test_check_names_every_package_a_bare_machine_lacks(machine, target, packages):
    docker_client(machine, daemon=False)
    proc = bootstrap(machine, "--check", "--for", target)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = install_line(proc.stdout)
    assert line.endswith("apt-get install -y --no-install-recommends "
                         + " ".join(packages) + "'")  # fmt: skip
    assert "missing  debootstrap (debootstrap)" in proc.stdout
    assert "missing  Docker daemon: not running" in proc.stdout
    assert "dockerd >/var/log/golden-dockerd.log 2>&1 &" in proc.stdout
    assert ("packer" in line) == (target == "test")


def test_check_passes_on_a_machine_that_has_everything(machine):
    everything(machine)
    proc = bootstrap(machine, "--check", "--for", "test")
    assert proc.returncode == 0, proc.stdout
    assert "missing" not in proc.stdout and "everything `make test` needs" in proc.stdout


def test_a_stopped_daemon_alone_is_reported_with_its_start_command(machine):
    everything(machine)
    docker_client(machine, daemon=False)
    proc = bootstrap(machine, "--check", "--for", "local")
    assert proc.returncode == 1
    assert "apt-get" not in proc.stdout
    assert "sudo sh -c 'dockerd >/var/log/golden-dockerd.log 2>&1 &'" in proc.stdout


def test_python_without_venv_asks_for_python3_venv(machine):
    everything(machine)
    stand_in(machine, "python3", "exit 1")  # Debian's python3 without python3-venv
    proc = bootstrap(machine, "--check", "--for", "local")
    assert proc.returncode == 1
    assert "missing  python3 -m venv (python3-venv)" in proc.stdout
    assert install_line(proc.stdout).endswith("--no-install-recommends python3-venv'")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"),
                    reason="switches to the user nobody: needs root and runuser")  # fmt: skip
def test_without_root_it_prints_the_command_and_changes_nothing(machine):
    docker_client(machine, daemon=False)
    mark = machine / "marks" / "apt-get-ran"
    stand_in(machine, "apt-get", f"touch {mark}")
    stand_in(machine, "dockerd", f"touch {mark}")
    proc = bootstrap(machine, "--for", "local", user="nobody")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "nothing was changed. Run as root:" in proc.stderr
    assert "sudo sh -c 'apt-get update && apt-get install -y" in proc.stderr
    assert "sudo scripts/bootstrap.sh --for local" in proc.stderr
    assert not mark.exists()


def test_bad_arguments_are_refused_naming_them(machine):
    proc = bootstrap(machine, "--for", "prod")
    assert proc.returncode == 2 and "--for: expected local or test, got 'prod'" in proc.stderr


@pytest.mark.parametrize(("target", "kind"), [("local", "local"), ("test", "test")])
def test_make_local_and_make_test_run_it_before_anything_else(tmp_path, target, kind):
    # A virtualenv that does not exist yet: make would create it, after the bootstrap.
    # Under `make test` the parent's MAKEFLAGS would add "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=REPO, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if line.strip()]
    assert commands[0] == f"scripts/bootstrap.sh --for {kind}"
    assert any("-m venv" in line for line in commands[1:])


def test_ci_installs_through_the_same_script():
    ci = (REPO / ".ci" / "run").read_text()
    assert "scripts/bootstrap.sh --for test" in ci
    assert "apt-get" not in ci and "dockerd" not in ci.replace("Docker daemon", "")
