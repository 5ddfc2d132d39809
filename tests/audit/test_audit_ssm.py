"""`golden audit ENV` on an instance over SSM, against the AWS emulator: the tool bundle
goes to the artifacts bucket encrypted, one InService instance gets the script with a
presigned URL and the bundle's sha256, and what it answers becomes the table and the exit
code. What the emulator does not model is in conftest.py."""

from __future__ import annotations

import hashlib

import pytest
from audit_support import BUCKET, LYNIS_BAD, ssh_audit_report, stdout, write_settings


def answer(world, text: str, instance: str | None = None) -> None:
    world.emulator.ssm_clear_outcomes()
    for instance_id in [instance] if instance else world.instances():
        world.emulator.ssm_outcome(instance_id, stdout=text, match="golden-audit")


def audit(world, *args):
    return world.golden("audit", world.settings, "--role", "app", "--poll-seconds", "0.001",
                        *args)


def test_an_instance_meeting_every_target_exits_0_and_gets_the_bundle_by_url(world):
    answer(world, stdout())
    before = len(world.emulator.ssm_state()["commands"])
    result = audit(world)
    assert result.exit_code == 0, result.output
    assert "lynis hardening index" in result.stdout and "83" in result.stdout
    commands = world.emulator.ssm_state()["commands"][before:]
    assert len(commands) == 1
    first = world.instances()[0]
    assert [inv["InstanceId"] for inv in commands[0]["invocations"]] == [first]
    # The bundle is in the bucket, encrypted, and the script names its sha256 and URL.
    s3 = world.client("s3")
    (item,) = [o for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="golden/audit/")["Contents"]]
    head = s3.head_object(Bucket=BUCKET, Key=item["Key"])
    body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    sha = hashlib.sha256(body).hexdigest()
    assert item["Key"] == f"golden/audit/{sha}.tar.gz"
    assert head["ServerSideEncryption"] == "AES256" and head["Metadata"]["sha256"] == sha
    script = "\n".join(commands[0]["Parameters"]["commands"])
    assert f'echo "{sha}  bundle.tgz" | sha256sum -c' in script
    assert "X-Amz-Signature" in script or "Signature=" in script


def test_missed_targets_exit_1_naming_them(world):
    answer(world, stdout(lynis=LYNIS_BAD, ssh=ssh_audit_report(hardened=False)))
    result = audit(world, "--details")
    assert result.exit_code == 1
    assert "target missed: lynis hardening index, lynis warnings, ssh-audit failures" in (
        result.stderr)
    assert "PKGS-7392: Found one or more vulnerable packages." in result.stdout


def test_output_cut_short_is_an_error_not_a_pass(world):
    answer(world, stdout(end=False))
    result = audit(world)
    assert result.exit_code == 4
    assert "no end marker" in result.stderr


def test_a_failed_invocation_names_the_instance_and_the_error(world):
    world.emulator.ssm_clear_outcomes()
    first = world.instances()[0]
    world.emulator.ssm_outcome(first, status="Failed", stderr="golden-audit: the tool bundle "
                               "does not match its sha256", match="golden-audit")
    result = audit(world)
    assert result.exit_code == 4
    assert first in result.stderr and "does not match its sha256" in result.stderr


def test_a_chosen_instance_is_audited_and_a_stranger_refused(world):
    second = world.instances()[1]
    answer(world, stdout(), instance=second)
    before = len(world.emulator.ssm_state()["commands"])
    assert audit(world, "--instance", second).exit_code == 0
    (command,) = world.emulator.ssm_state()["commands"][before:]
    assert [inv["InstanceId"] for inv in command["invocations"]] == [second]
    refused = audit(world, "--instance", "i-0123456789abcdef0")
    assert refused.exit_code == 2
    assert "not an InService instance of golden-local-app" in refused.stderr


def test_without_an_artifacts_bucket_nothing_is_sent(world, tmp_path):
    settings = write_settings(tmp_path / "nobucket.yaml", world.emulator.url, bucket=None)
    before = len(world.emulator.ssm_state()["commands"])
    result = world.golden("audit", settings, "--role", "app")
    assert result.exit_code == 2
    assert "artifacts_bucket: missing" in result.stderr
    assert len(world.emulator.ssm_state()["commands"]) == before


@pytest.fixture(autouse=True)
def _clean_bucket(world):
    yield
    s3 = world.client("s3")
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
