"""AMI lifecycle against the emulator: deprecation, staged retirement (disable, then
deregister after the grace period), deregistration protection on AMIs in use and
known-good, the stage `golden amis list` shows.

The emulator models, from the EC2 API reference: DisableImage ("A disabled AMI does not
appear in DescribeImages API calls by default"; IncludeDisabled shows it), deregistration
protection ("When deregistration protection is enabled, the AMI can't be deregistered"),
EnableImageDeprecation. It does not model launches being refused from a disabled AMI, nor
the error code of a refused DeregisterImage (AWS does not document it)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from golden.core import tags as T

from autoscaling import images
from autoscaling.emulator.seed import register_ami

LONG_AGO = datetime.now(timezone.utc) - timedelta(days=60)


def _old(world, count: int) -> list[str]:
    ec2 = world.client("ec2")
    return [register_ami(ec2, "app", f"0.1.{n}", build_time=LONG_AGO + timedelta(hours=n))
            for n in range(count)]  # fmt: skip


def _prune(world, *extra: str):
    return world.golden("amis", "prune", "--role", "app", "--keep", "2", "--env",
                        world.settings, "--json", *extra)  # fmt: skip


def _image(ec2, ami: str) -> dict | None:
    found = ec2.describe_images(ImageIds=[ami], IncludeDisabled=True)["Images"]
    return found[0] if found else None


def test_emulator_hides_disabled_amis_and_refuses_to_deregister_a_protected_one(world):
    ec2 = world.client("ec2")
    (ami,) = _old(world, 1)
    assert _image(ec2, ami)["DeregistrationProtection"] == "disabled"
    ec2.enable_image_deregistration_protection(ImageId=ami)
    assert _image(ec2, ami)["DeregistrationProtection"] == "enabled-without-cooldown"
    with pytest.raises(ClientError) as refused:
        ec2.deregister_image(ImageId=ami)
    assert refused.value.response["Error"]["Code"] == "OperationNotPermitted"
    ec2.disable_image(ImageId=ami)
    owned = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert ami not in owned, "a disabled AMI is not listed by default"
    assert _image(ec2, ami)["State"] == "disabled"
    # With the cooldown, disabling the protection does not allow deregistration yet.
    ec2.enable_image_deregistration_protection(ImageId=ami, WithCooldown=True)
    assert _image(ec2, ami)["DeregistrationProtection"] == "enabled-with-cooldown"
    ec2.disable_image_deregistration_protection(ImageId=ami)
    with pytest.raises(ClientError, match="cooldown"):
        ec2.deregister_image(ImageId=ami)


def test_prune_disables_first_and_deregisters_only_after_the_grace_period(world):
    ec2 = world.client("ec2")
    first, second = _old(world, 2)
    result = _prune(world, "--yes", "--grace-days", "14")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert sorted(out["done"]["disabled"]) == sorted([first, second])
    assert out["done"]["deregistered"] == []
    for ami in (first, second):
        image = _image(ec2, ami)
        assert image["State"] == "disabled"
        assert images.tag_map(image)[T.DISABLED_AT]
    listed = json.loads(world.golden("amis", "list", "--role", "app", "--env", world.settings,
                                     "--json").stdout)  # fmt: skip
    assert {r["image_id"]: r["stage"] for r in listed}[first] == "disabled"

    # Within the grace period a second prune changes nothing.
    world.emulator.clear_requests()
    again = json.loads(_prune(world, "--yes", "--grace-days", "14").stdout)
    assert {s["action"] for s in again["steps"] if s["image_id"] == first} == {"wait"}
    assert world.mutating_calls() == []

    # 15 days later (the tag says when it was disabled): deregistered with its snapshots.
    snapshots = images.snapshots_of(_image(ec2, first))
    earlier = (datetime.now(timezone.utc) - timedelta(days=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ec2.create_tags(Resources=[first], Tags=[{"Key": T.DISABLED_AT, "Value": earlier}])
    later = json.loads(_prune(world, "--yes", "--grace-days", "14").stdout)
    assert later["done"]["deregistered"] == [first]
    assert _image(ec2, first) is None and _image(ec2, second)["State"] == "disabled"
    left = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snapshots and not set(snapshots) & left


def test_prune_protects_every_ami_in_use_and_re_enables_a_disabled_one(world):
    ec2 = world.client("ec2")
    in_use = world.amis["app"][-1]  # the group's launch template and instances use it
    ec2.disable_image(ImageId=in_use)  # by hand, by mistake
    result = _prune(world, "--yes")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert in_use in out["done"]["protected"] and in_use in out["done"]["enabled"]
    image = _image(ec2, in_use)
    assert image["State"] == "available" and images.is_protected(image)


def test_a_protected_ami_no_longer_in_use_is_unprotected_then_disabled(world):
    ec2 = world.client("ec2")
    (old,) = _old(world, 1)
    ec2.enable_image_deregistration_protection(ImageId=old)
    out = json.loads(_prune(world, "--yes", "--grace-days", "0").stdout)
    steps = [s["action"] for s in out["steps"] if s["image_id"] == old]
    assert steps == ["unprotect", "disable", "deregister"]
    assert out["done"]["deregistered"] == [old] and _image(ec2, old) is None


def test_prune_dry_run_lists_the_steps_and_changes_nothing(world):
    (old,) = _old(world, 1)
    world.emulator.clear_requests()
    out = json.loads(_prune(world).stdout)
    assert out["dry_run"] is True
    assert [s["action"] for s in out["steps"] if s["image_id"] == old] == ["disable", "wait"]
    assert world.mutating_calls() == []


def test_a_release_protects_the_known_good_ami_and_list_shows_the_stages(world):
    ec2 = world.client("ec2")
    new = register_ami(ec2, "app", "1.0.0")
    result = world.release(new)
    assert result.exit_code == 0, result.stderr
    assert images.is_protected(_image(ec2, new)), "the known-good AMI is protected"
    deprecated = register_ami(ec2, "app", "0.0.9", build_time=LONG_AGO)
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    ec2.enable_image_deprecation(ImageId=deprecated, DeprecateAt=yesterday)
    listed = world.golden("amis", "list", "--role", "app", "--env", world.settings, "--json")
    rows = {r["image_id"]: r for r in json.loads(listed.stdout)}
    assert rows[new]["stage"] == "in use" and rows[new]["deregistration_protection"] is True
    assert rows[deprecated]["stage"] == "deprecated"
    table = world.golden("amis", "list", "--role", "app", "--env", world.settings)
    assert "stage" in table.stdout and "deprecated" in table.stdout


def test_lifecycle_steps_decide_from_state_tags_and_time():
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)

    def image(ami, state="available", protected=False, disabled_at=None):
        tags = [{"Key": T.DISABLED_AT, "Value": disabled_at}] if disabled_at else []
        protection = "enabled-without-cooldown" if protected else "disabled"
        return {"ImageId": ami, "State": state, "Tags": tags,
                "DeregistrationProtection": protection}  # fmt: skip

    used = image("ami-used")
    fresh = image("ami-fresh")
    recent = image("ami-recent", "disabled", disabled_at="2026-11-25T00:00:00Z")
    old = image("ami-old", "disabled", protected=True, disabled_at="2026-11-01T00:00:00Z")
    foreign = image("ami-foreign", "disabled")
    removed = [fresh, recent, old, foreign]
    steps = images.lifecycle_steps([used, *removed], {"ami-used"}, removed, now,
                                   timedelta(days=14))  # fmt: skip
    actions = [(s["image_id"], s["action"]) for s in steps]
    assert actions == [
        ("ami-used", "protect"),
        ("ami-fresh", "disable"), ("ami-fresh", "wait"),
        ("ami-recent", "wait"),
        ("ami-old", "unprotect"), ("ami-old", "deregister"),
        ("ami-foreign", "mark"), ("ami-foreign", "wait"),
    ]  # fmt: skip
    assert images.stage(recent, set(), now) == "disabled"
    assert images.stage(used, {"ami-used"}, now) == "in use"
