"""A release's migration (`golden release --migrate 'alembic upgrade head'`) against a real
PostgreSQL: the script the release sends over SSM Run Command (autoscaling.migration.
script) run, as the SSM agent runs it, on a one-off instance of the examples' image booted
from the same user data as the fleet (a second twin of the same image, with the local
stand-ins' seed), with the FastAPI app's own Alembic migration (examples/fastapi-app/
migrations). The release flow around it (the one-off instance launched from the new
launch-template version, the refresh only after success, nothing rolled on failure) is
tested against the AWS emulator in tests/release/test_migration.py, where Run Command
executes nothing; here nothing is emulated but the instance."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

from autoscaling import migration

pytestmark = [pytest.mark.twin, pytest.mark.slow]

POSTGRES = "golden-local-postgres"  # the RDS stand-in (golden.twin.localstack)
# Bound of one script run (seconds): the migration's own timeout (300) plus the boot wait.
AGENT_TIMEOUT = 600


def _request(url: str, data: bytes | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"} if data else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers),
                                    timeout=10) as resp:  # fmt: skip
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _psql(sql: str) -> str:
    db = subprocess.run(["docker", "exec", POSTGRES, "printenv", "DB_NAME"], capture_output=True,
                        text=True, check=True, timeout=30).stdout.strip()  # fmt: skip
    done = subprocess.run(
        ["docker", "exec", POSTGRES, "runuser", "-u", "postgres", "--", "psql", "-h", "/tmp",
         "-d", db, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _run_as_agent(container: str, command: str) -> subprocess.CompletedProcess:
    """The commands of AWS-RunShellScript run as the SSM agent runs them: one sh script."""
    lines = migration.script(migration.Migration(tuple(command.split()), None, 300))
    return subprocess.run(["docker", "exec", container, "sh", "-c", "\n".join(lines)],
                          capture_output=True, text=True, timeout=AGENT_TIMEOUT)  # fmt: skip


@pytest.fixture(scope="module")
def one_off(byo_build, local_standins):
    """A second instance of the examples' image, booted from the fleet's user data and
    settings, as the release's one-off instance is."""
    from golden.twin import build as twin
    from golden.twin import byoimages

    spec = twin.TwinSpec(role="app", name=f"golden-byo-oneoff-{uuid.uuid4().hex[:6]}",
                         port=int(os.environ.get("GOLDEN_BYO_ONEOFF_PORT", "18191")),
                         image=byoimages.TWIN_IMAGE, seed_dir=str(local_standins))  # fmt: skip
    try:
        yield twin.up(spec, wait=180)
    finally:
        twin.down(spec.name)


def test_the_release_script_migrates_the_real_database_once_and_the_fleet_uses_it(
    byo_twin, one_off
):
    _psql("DROP TABLE IF EXISTS notes, alembic_version")
    status, body = _request(byo_twin["url"] + "/api/notes")
    assert status == 503, f"no schema yet, yet /api/notes answered {status}: {body}"

    first = _run_as_agent(one_off["name"], "alembic upgrade head")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Running upgrade  -> 0001" in first.stdout + first.stderr
    assert _psql("SELECT version_num FROM alembic_version") == "0001"
    # The one-off instance served nothing: its app stayed off.
    state = subprocess.run(["docker", "exec", one_off["name"], "systemctl", "is-active",
                            "app.service"], capture_output=True, text=True, timeout=30)  # fmt: skip
    assert state.stdout.strip() != "active"

    status, body = _request(byo_twin["url"] + "/api/notes",
                            json.dumps({"text": "after the migration"}).encode())  # fmt: skip
    assert status == 201, body
    assert "after the migration" in _request(byo_twin["url"] + "/api/notes")[1]

    again = _run_as_agent(one_off["name"], "alembic upgrade head")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Running upgrade" not in again.stdout + again.stderr


def test_a_failing_migration_exits_with_its_own_code_and_says_why(one_off):
    assert _run_as_agent(one_off["name"], "alembic upgrade head").returncode == 0
    failed = _run_as_agent(one_off["name"], "alembic upgrade 9999")
    assert failed.returncode != 0
    assert "9999" in failed.stdout + failed.stderr
    assert _psql("SELECT version_num FROM alembic_version") == "0001"
