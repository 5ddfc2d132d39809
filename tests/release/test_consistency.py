"""EC2 is eventually consistent: golden's mutating sequences wait out the documented
transient errors with bounded back-off and report what they could not finish.

"if you run a command to modify or describe the resource that you just created, its ID
might not have propagated throughout the system, and you will get an error responding
that the resource does not exist" -- and a snapshot can still be reported in use by the
AMI just deregistered (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
The emulator answers those errors only when a test declares them (emulator/faults.py);
it does not model when AWS would produce them by itself.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from golden.core import retry
from golden.core import tags as T

from autoscaling.emulator.seed import register_ami


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """golden's back-off records its waits instead of sleeping."""
    waited: list[float] = []
    monkeypatch.setattr(retry, "DEFAULT", retry.Backoff(sleep=waited.append))
    return waited


def _snapshots(ec2, ami: str) -> list[str]:
    (image,) = ec2.describe_images(ImageIds=[ami])["Images"]
    return [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]


def _existing_snapshots(ec2) -> set[str]:
    return {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def _old_amis(world, count: int) -> list[str]:
    long_ago = datetime.now(timezone.utc) - timedelta(days=60)
    ec2 = world.client("ec2")
    return [
        register_ami(ec2, "app", f"0.1.{n}", build_time=long_ago + timedelta(hours=n))
        for n in range(count)
    ]


def _prune(world, *extra: str):
    # No grace period: these tests are about deleting the snapshots of a deregistered AMI
    # (the staged retirement is in test_ami_lifecycle.py).
    return world.golden(
        "amis", "prune", "--role", "app", "--keep", "2", "--grace-days", "0",
        "--env", world.settings, "--json", *extra,
    )  # fmt: skip


def test_prune_waits_while_a_fresh_deregistration_keeps_the_snapshot_in_use(world, sleeps):
    ec2 = world.client("ec2")
    (old,) = _old_amis(world, 1)
    (snapshot,) = _snapshots(ec2, old)
    world.emulator.fault(
        "DeleteSnapshot", "InvalidSnapshot.InUse", times=2, match={"SnapshotId": snapshot}
    )
    result = _prune(world, "--yes")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["done"]["deregistered"] == [old] and snapshot in out["done"]["deleted_snapshots"]
    assert out["unfinished"] == []
    assert snapshot not in _existing_snapshots(ec2)
    deletes = [r for r in world.emulator.requests() if r["action"] == "DeleteSnapshot"]
    assert [r.get("fault") for r in deletes if r["params"]["SnapshotId"] == snapshot] == [
        "InvalidSnapshot.InUse",
        "InvalidSnapshot.InUse",
        None,
    ]
    assert sleeps == retry.DEFAULT.delays()[:2], "bounded, growing waits between the tries"


def test_prune_goes_on_reports_what_it_could_not_finish_and_a_later_prune_finds_it(world, sleeps):
    ec2 = world.client("ec2")
    first, second = _old_amis(world, 2)
    (stuck,) = _snapshots(ec2, first)
    (other,) = _snapshots(ec2, second)
    world.emulator.fault(
        "DeleteSnapshot", "InvalidSnapshot.InUse", times=50, match={"SnapshotId": stuck}
    )
    result = _prune(world, "--yes")
    assert result.exit_code == 4
    assert f"DeleteSnapshot {stuck}" in result.stderr and "InvalidSnapshot.InUse" in result.stderr
    out = json.loads(result.stdout)
    assert sorted(out["done"]["deregistered"]) == sorted([first, second]), "it went on"
    assert other in out["done"]["deleted_snapshots"]
    assert [u["resource"] for u in out["unfinished"]] == [stuck]
    assert len(sleeps) == retry.DEFAULT.attempts - 1, "bounded: it gave up"
    assert stuck in _existing_snapshots(ec2)

    # EC2 catches up; the AMI is gone, so only golden's tags on the snapshot find it now.
    world.emulator._call("POST", "faults/clear", {})
    dry = _prune(world)
    assert [s["snapshot_id"] for s in json.loads(dry.stdout)["orphan_snapshots"]] == [stuck]
    again = _prune(world, "--yes")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["done"]["deleted_snapshots"] == [stuck]
    assert stuck not in _existing_snapshots(ec2)


def test_orphan_clean_up_spares_snapshots_in_use_untagged_or_of_another_role(world, sleeps):
    ec2 = world.client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]

    def snapshot(tags: dict[str, str] | None) -> str:
        snap = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
        if tags:
            ec2.create_tags(
                Resources=[snap], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )
        return snap

    golden_tags = {T.ROLE: "app", T.BUILD_TIME: "2026-01-01T00:00:00Z", T.VERSION: "0.0.1"}
    orphan = snapshot(golden_tags)
    untagged = snapshot(None)
    chroma = snapshot({**golden_tags, T.ROLE: "chroma"})
    # Tagged like golden's, but an AMI registered outside golden still uses it.
    foreign = ec2.register_image(Name="someone-registered-it")["ImageId"]
    (used,) = _snapshots(ec2, foreign)
    ec2.create_tags(Resources=[used], Tags=[{"Key": k, "Value": v} for k, v in golden_tags.items()])
    result = _prune(world, "--yes")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [s["snapshot_id"] for s in out["orphan_snapshots"]] == [orphan]
    left = _existing_snapshots(ec2)
    assert orphan not in left and {untagged, chroma, used} <= left
    # The seeded AMIs in use keep their snapshots too.
    for ami in world.amis["app"]:
        assert set(_snapshots(ec2, ami)) <= left


def test_env_apply_waits_until_ec2_knows_the_version_it_just_wrote(world, sleeps):
    """ModifyLaunchTemplate (make it the default) right after CreateLaunchTemplateVersion:
    EC2 may answer that the version does not exist yet."""
    import yaml

    data = yaml.safe_load(world.settings.read_text())
    data["roles"]["app"]["instance_type"] = "t3.small"
    world.settings.write_text(yaml.safe_dump(data, sort_keys=False))
    world.emulator.fault("ModifyLaunchTemplate", "InvalidLaunchTemplateId.VersionNotFound")
    applied = world.golden("env", "apply", world.settings, "--yes", "--role", "app")
    assert applied.exit_code == 0, applied.stderr
    assert world.template()["DefaultVersionNumber"] == 2
    assert sleeps == retry.DEFAULT.delays()[:1]
