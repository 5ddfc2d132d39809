"""The CI/CD workflows (.github/workflows): actionlint finds nothing, and they keep the
promises docs/ci.md makes: lint and tests on pull requests; on main a bake with an
OIDC-assumed role (no stored keys), a release to staging, prod only behind the protected
`production` environment; a weekly drift report; least privilege per job."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
# The dev environment's (.venv/bin, beside this Python) before any other on PATH.
ACTIONLINT = str(Path(sys.executable).parent / "actionlint")
if not Path(ACTIONLINT).exists():
    ACTIONLINT = shutil.which("actionlint") or ACTIONLINT


def _load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_actionlint_finds_nothing():
    if not Path(ACTIONLINT).exists():
        pytest.fail("actionlint is not installed: make setup (the dev lock has it)")
    files = sorted(str(path) for path in WORKFLOWS.glob("*.yml"))
    result = subprocess.run([ACTIONLINT, "-shellcheck=", *files], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_pull_requests_run_lint_and_the_tests_without_any_cloud_credential():
    ci = _load("ci.yml")
    assert "pull_request" in ci["on"]
    assert ci["permissions"] == {"contents": "read"}
    (job,) = ci["jobs"].values()
    assert any(".ci/run" in step.get("run", "") for step in job["steps"])
    assert "id-token" not in str(ci)


def test_main_bakes_with_an_oidc_role_releases_to_staging_and_prod_waits_for_approval():
    release = _load("release.yml")
    assert release["on"]["push"]["branches"] == ["main"]
    assert release["permissions"] == {}
    jobs = release["jobs"]
    assert jobs["release-staging"]["needs"] == "bake"
    assert jobs["release-staging"]["environment"] == "staging"
    assert jobs["promote-prod"]["environment"] == "production"
    assert set(jobs["promote-prod"]["needs"]) == {"bake", "release-staging"}
    for name, job in jobs.items():
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
        creds = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
        assert len(creds) == 1 and creds[0]["with"]["role-to-assume"].startswith("${{ vars."), name
    bake = " ".join(s.get("run", "") for s in jobs["bake"]["steps"])
    assert "golden bake" in bake and "--artifacts-bucket" in bake
    assert "golden release prod" in str(jobs["promote-prod"])


def test_no_workflow_holds_or_reads_a_stored_aws_key():
    workflows = sorted(WORKFLOWS.glob("*.yml"))
    assert [p.name for p in workflows] == ["ci.yml", "drift.yml", "release.yml"]
    for path in workflows:
        text = path.read_text()
        for word in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY",
                     "secrets.AWS"):  # fmt: skip
            assert word not in text, f"{path.name}: {word}"


def test_a_weekly_drift_report_runs_for_staging_and_prod():
    drift = _load("drift.yml")
    (schedule,) = drift["on"]["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*") and weekday.isdigit()
    job = drift["jobs"]["drift"]
    assert job["strategy"]["matrix"]["env"] == ["staging", "prod"]
    script = " ".join(s.get("run", "") for s in job["steps"])
    assert "golden env plan" in script and "golden drift" in script
    assert "GITHUB_STEP_SUMMARY" in script
