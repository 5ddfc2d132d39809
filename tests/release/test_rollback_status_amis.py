"""`golden rollback`, `golden status` and `golden amis` against the emulator."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from golden.core import tags as T

from autoscaling.emulator.seed import register_ami


def _release(world, version: str) -> str:
    ami = register_ami(world.client("ec2"), "app", version)
    result = world.release(ami)
    assert result.exit_code == 0, result.stderr
    return ami


def test_status_reports_each_instance_and_the_refresh_in_flight(world):
    asg = world.client("autoscaling")
    refresh_id = asg.start_instance_refresh(AutoScalingGroupName="golden-local-app")[
        "InstanceRefreshId"
    ]
    world.emulator.clear_requests()
    result = world.golden("status", world.settings, "--json")
    assert result.exit_code == 0, result.stderr
    app = next(r for r in json.loads(result.stdout)["roles"] if r["role"] == "app")
    assert app["refresh_in_flight"] is True and app["last_refresh"]["id"] == refresh_id
    assert app["group_version"] == "1" and len(app["instances"]) == 2
    row = app["instances"][0]
    assert row["ami"] == world.amis["app"][-1] and row["launch_template_version"] == "1"
    assert row["health"] == "Healthy" and row["targets"] == ["healthy"]
    # status only reads (its DescribeInstanceRefreshes does advance the emulator's clock)
    assert world.mutating_calls() == []
    text = world.golden("status", world.settings)
    assert "IN FLIGHT" in text.stdout and row["instance_id"] in text.stdout


def test_rollback_without_active_refresh_releases_the_previous_known_good_version(world):
    first = _release(world, "2.0.0")
    second = _release(world, "3.0.0")
    assert set(world.instance_amis().values()) == {second}

    dry = world.golden("rollback", world.settings, "--role", "app", "--dry-run", "--json")
    assert dry.exit_code == 0
    assert json.loads(dry.stdout)["to_version"] == 2
    result = world.golden(
        "rollback",
        world.settings,
        "--role",
        "app",
        "--json",
        "--poll-min-seconds",
        "0.001",
        "--poll-max-seconds",
        "0.002",
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["from_version"] == 3 and out["to_version"] == 2 and out["ami"] == first
    assert set(world.instance_amis().values()) == {first}
    assert world.group()["LaunchTemplate"]["Version"] == "2"
    assert world.template()["DefaultVersionNumber"] == 2
    assert out["known_good_versions"] == [1, 2], "the bad version leaves the history"
    # A second rollback goes further back, to the version env apply made.
    again = world.golden(
        "rollback",
        world.settings,
        "--role",
        "app",
        "--json",
        "--poll-min-seconds",
        "0.001",
        "--poll-max-seconds",
        "0.002",
    )
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["to_version"] == 1
    assert set(world.instance_amis().values()) == {world.amis["app"][-1]}


def test_rollback_while_a_refresh_is_active_uses_rollback_instance_refresh(world):
    old = world.amis["app"][-1]
    ami = register_ami(world.client("ec2"), "app", "2.0.0")
    ec2 = world.client("ec2")
    template_id = world.template()["LaunchTemplateId"]
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"ImageId": ami}
    )
    asg = world.client("autoscaling")
    asg.start_instance_refresh(
        AutoScalingGroupName="golden-local-app",
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template_id, "Version": "2"}},
        Preferences={"MinHealthyPercentage": 50, "AutoRollback": True},
    )
    for _ in range(2):  # Pending -> InProgress -> first batch replaced
        asg.describe_instance_refreshes(AutoScalingGroupName="golden-local-app")
    assert ami in world.instance_amis().values()

    result = world.golden(
        "rollback",
        world.settings,
        "--role",
        "app",
        "--json",
        "--poll-min-seconds",
        "0.001",
        "--poll-max-seconds",
        "0.002",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "RollbackSuccessful"
    assert "RollbackInstanceRefresh" in world.actions()
    assert set(world.instance_amis().values()) == {old}


def test_rollback_with_no_recorded_history_is_refused(world):
    result = world.golden("rollback", world.settings, "--role", "app")
    assert result.exit_code == 3 and "no known-good" in result.stderr
    assert world.mutating_calls() == []


def test_amis_list_shows_provenance_and_use(world):
    result = world.golden("amis", "list", "--role", "app", "--env", world.settings, "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["image_id"] for r in rows] == list(reversed(world.amis["app"]))
    assert rows[0]["in_use"] is True and rows[1]["in_use"] is False
    assert rows[0]["provenance"][T.SOURCE_AMI_NAME].startswith("ubuntu/images/")
    assert rows[0]["tested"] is True


def test_prune_is_a_dry_run_without_yes(world):
    for n in range(3):
        register_ami(world.client("ec2"), "app", f"0.0.{n}")
    world.emulator.clear_requests()
    result = world.golden(
        "amis", "prune", "--role", "app", "--keep", "1", "--env", world.settings, "--json"
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["dry_run"] is True
    assert len(json.loads(result.stdout)["removed"]) >= 1
    assert world.mutating_calls() == []


def test_prune_never_removes_an_ami_in_use(world):
    ec2 = world.client("ec2")
    in_use = world.amis["app"][-1]  # running, and in launch template version 1
    oldest = world.amis["app"][0]  # not used
    long_ago = datetime.now(timezone.utc) - timedelta(days=30)
    only_in_template = register_ami(ec2, "app", "0.9.0", build_time=long_ago)
    ec2.create_launch_template(
        LaunchTemplateName="someone-elses", LaunchTemplateData={"ImageId": only_in_template}
    )
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    newest = register_ami(ec2, "app", "9.0.0", build_time=later)  # kept by --keep 1
    snapshots = [
        m["Ebs"]["SnapshotId"]
        for m in ec2.describe_images(ImageIds=[oldest])["Images"][0]["BlockDeviceMappings"]
    ]

    result = world.golden(
        "amis", "prune", "--role", "app", "--keep", "1", "--grace-days", "0",
        "--env", world.settings, "--yes", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [r["image_id"] for r in out["removed"]] == [oldest]
    left = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert {in_use, only_in_template, newest} <= left and oldest not in left
    remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snapshots and not set(snapshots) & remaining
