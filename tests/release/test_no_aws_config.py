"""The offline path on a machine with no AWS configuration at all: no AWS_* variables, no
~/.aws (HOME is an empty temporary folder), as a new user's machine has. The emulator
(`make emulator`: seeded for `ENV=local`) and every command aimed at it run as separate
processes there, the way a user runs them.

And where a user does have AWS configuration, none of it goes to a loopback endpoint:
the emulator records which access key id signed each request (CloudTrail's
userIdentity.accessKeyId); it never checks credentials, so only the record shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autoscaling.emulator import free_port

from .conftest import FAST_POLL, write_settings

GOLDEN = str(Path(sys.executable).parent / "golden")
EMULATOR_KEY = "golden-emulator"


def bare_environment(home: Path, **extra: str) -> dict[str, str]:
    """What a new user's shell has: a PATH, a HOME with nothing in it, a locale."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", **extra}


def start_emulator(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "autoscaling.emulator", "--port", str(port),
             "--step-seconds", "0", "--time-scale", "0", "--seed", "local"],
            stdout=out, stderr=subprocess.STDOUT, env={**env, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


def wait_for_seed(proc: subprocess.Popen, log: Path, timeout: float = 90) -> str:
    """The emulator's output once it has seeded (or stopped); bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if "seeded local" in text or proc.poll() is not None:
            return text
        time.sleep(0.2)
    return log.read_text()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def golden(env: dict[str, str], *args) -> subprocess.CompletedProcess:
    return subprocess.run([GOLDEN, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def signing_keys(port: int) -> set[str]:
    url = f"http://127.0.0.1:{port}/moto-api/golden/requests"
    with urllib.request.urlopen(url, timeout=10) as reply:
        entries = json.loads(reply.read())
    return {e.get("access_key_id") for e in entries}


@pytest.fixture(scope="module")
def new_machine(tmp_path_factory):
    """The seeded emulator started on a machine with no AWS configuration, and a
    settings file for `local` pointing at it."""
    root = tmp_path_factory.mktemp("new-machine")
    env = bare_environment(root / "home")
    port = free_port()
    log = root / "emulator.log"
    proc = start_emulator(env, port, log)
    try:
        seeded = wait_for_seed(proc, log)
        settings = write_settings(root / "local.yaml", f"http://127.0.0.1:{port}")
        yield {"env": env, "port": port, "seeded": seeded, "settings": settings, "proc": proc,
               "root": root}  # fmt: skip
    finally:
        stop(proc)


def test_make_emulator_seeds_with_no_aws_configuration(new_machine):
    out = new_machine["seeded"]
    assert "seeded local" in out, out[-3000:]
    assert "Traceback" not in out and "NoCredentialsError" not in out
    assert new_machine["proc"].poll() is None
    assert signing_keys(new_machine["port"]) == {EMULATOR_KEY}


def test_every_local_command_works_with_no_aws_configuration(new_machine):
    env, settings = new_machine["env"], new_machine["settings"]
    commands = [
        ("env", "plan", settings),
        ("env", "apply", settings, "--yes"),
        ("release", settings, "--role", "app", "--ami", "latest", *FAST_POLL),
        ("status", settings),
        ("amis", "list", "--role", "app", "--env", settings),
        # The release above is a no-op (env apply already launched the latest AMI): the
        # group runs version 1, so rolling back to it has nothing to do.
        ("rollback", settings, "--role", "app", "--to-version", "1", "--dry-run"),
        ("drift", settings, "--role", "app", "--dry-run"),
    ]
    for args in commands:
        proc = golden(env, *args)
        shown = f"golden {' '.join(map(str, args[:2]))}: {proc.stderr[-2000:]}"
        assert proc.returncode == 0, shown
        assert "credentials" not in proc.stderr.lower() and "Traceback" not in proc.stderr, shown
    assert signing_keys(new_machine["port"]) == {EMULATOR_KEY}


def test_a_users_aws_configuration_never_reaches_a_loopback_endpoint(new_machine, tmp_path):
    home = tmp_path / "home"
    marker = tmp_path / "credential-process-ran"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text(
        "[profile work]\nregion = eu-west-1\n"
        f"credential_process = sh -c 'touch {marker}; exit 1'\n"
    )
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = AKIADEFAULTFILEKEY00\naws_secret_access_key = x\n"
    )
    env = bare_environment(
        home,
        AWS_PROFILE="work",
        AWS_ACCESS_KEY_ID="AKIAUSERSREALKEY0000",
        AWS_SECRET_ACCESS_KEY="real-secret",
        AWS_SESSION_TOKEN="real-session-token",
    )
    for args in (("env", "plan", new_machine["settings"]), ("status", new_machine["settings"])):
        proc = golden(env, *args)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert not marker.exists(), "the user's profile was used for a loopback endpoint"
    assert signing_keys(new_machine["port"]) == {EMULATOR_KEY}


def test_a_failed_seeding_is_one_line_and_stops_the_emulator(tmp_path):
    env = bare_environment(tmp_path / "home")
    log = tmp_path / "emulator.log"
    port = free_port()
    # Seeding an environment that does not exist fails at once.
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autoscaling.emulator", "--port", str(port),
             "--seed", str(tmp_path / "no-such-env.yaml")],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        stop(proc)
    text = log.read_text()
    assert proc.returncode == 1, text
    assert "Traceback" not in text
    (line,) = [line for line in text.splitlines() if line.startswith("error:")]
    assert "seeding" in line and "no-such-env.yaml" in line
