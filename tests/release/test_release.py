"""`golden release` against the emulator: success, automatic rollback, refusals, attach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from golden.core import tags as T

from autoscaling.emulator.seed import register_ami


@pytest.fixture
def new_ami(world):
    ami = register_ami(world.client("ec2"), "app", "2.0.0")
    world.emulator.clear_requests()
    return ami


def _old_ami(world):
    return world.amis["app"][-1]  # what env apply launched the group with


def test_successful_release_moves_every_instance_and_sets_the_default_version(world, new_ami):
    before = world.group()["LaunchTemplate"]["Version"]
    result = world.release(new_ami, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "Successful" and out["ami"] == new_ami
    new_version = out["new_version"]
    assert new_version == int(before) + 1

    assert set(world.instance_amis().values()) == {new_ami}
    assert len(world.instance_amis()) == 2
    group = world.group()
    assert group["LaunchTemplate"]["Version"] == str(new_version)
    assert {i["LaunchTemplate"]["Version"] for i in group["Instances"]} == {str(new_version)}
    assert world.template()["DefaultVersionNumber"] == new_version
    data = world.version_data(new_version)
    assert data["ImageId"] == new_ami
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["InstanceType"] == "t3.micro", "SourceVersion keeps the rest of the template"
    assert out["known_good_versions"] == [int(before), new_version]
    # Progress went to stderr, the result to stdout.
    assert "Successful" in result.stderr and "started instance refresh" in result.stderr


def test_refresh_is_started_with_the_new_version_only_in_desired_configuration(world, new_ami):
    assert world.release(new_ami).exit_code == 0
    calls = world.actions()
    assert "UpdateAutoScalingGroup" not in calls
    start = calls.index("StartInstanceRefresh")
    assert calls.index("CreateLaunchTemplateVersion") < start
    refresh = world.client("autoscaling").describe_instance_refreshes(
        AutoScalingGroupName="golden-local-app"
    )["InstanceRefreshes"][0]
    prefs = refresh["Preferences"]
    assert prefs["AutoRollback"] is True and prefs["SkipMatching"] is True
    assert prefs["MinHealthyPercentage"] == 50 and prefs["CheckpointPercentages"] == [50, 100]
    assert prefs["AlarmSpecification"] == {"Alarms": ["golden-local-app-5xx"]}
    assert prefs["BakeTime"] == 2
    assert refresh["DesiredConfiguration"]["LaunchTemplate"]["Version"] == "2"


def test_latest_picks_the_newest_tested_image(world):
    ec2 = world.client("ec2")
    future = datetime.now(timezone.utc) + timedelta(days=1)
    newest = register_ami(ec2, "app", "3.0.0", build_time=future - timedelta(hours=1))
    register_ami(ec2, "app", "3.0.1-untested", tested=False, build_time=future)
    result = world.release("latest", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ami"] == newest


def test_unhealthy_new_instances_roll_back_and_exit_non_zero(world, new_ami):
    old = _old_ami(world)
    before = world.group()["LaunchTemplate"]["Version"]
    world.emulator.set_health(image_id=new_ami, state="unhealthy")
    result = world.release(new_ami)
    assert result.exit_code == 4
    assert "RollbackSuccessful" in result.stderr
    assert "failed their health checks" in result.stderr
    assert f"now runs: {old} on 2 instance(s)" in result.stderr
    assert set(world.instance_amis().values()) == {old}
    assert world.group()["LaunchTemplate"]["Version"] == before
    assert str(world.template()["DefaultVersionNumber"]) == before


def test_gating_alarm_firing_mid_release_rolls_back(world, new_ami, monkeypatch):
    from autoscaling.progress import Reporter

    old = _old_ami(world)
    cloudwatch = world.client("cloudwatch")
    original = Reporter.refresh_update

    def fire_half_way(self, item):
        original(self, item)
        if item.get("Status") == "InProgress" and item.get("PercentageComplete") == 50:
            cloudwatch.set_alarm_state(
                AlarmName="golden-local-app-5xx", StateValue="ALARM", StateReason="5xx spike"
            )

    monkeypatch.setattr(Reporter, "refresh_update", fire_half_way)
    result = world.release(new_ami)
    assert result.exit_code == 4
    assert "golden-local-app-5xx" in result.stderr and "RollbackSuccessful" in result.stderr
    assert "  InProgress          50%" in result.stderr, "the alarm fired part way"
    assert set(world.instance_amis().values()) == {old}


def test_release_refused_while_another_refresh_is_active(world, new_ami):
    other = register_ami(world.client("ec2"), "app", "9.9.9")
    asg = world.client("autoscaling")
    refresh_id = asg.start_instance_refresh(AutoScalingGroupName="golden-local-app")[
        "InstanceRefreshId"
    ]
    world.emulator.clear_requests()
    result = world.release(other)
    assert result.exit_code == 3
    assert refresh_id in result.stderr and "only one release at a time" in result.stderr
    assert world.mutating_calls() == []


def _break_ami(world, kind: str) -> tuple[str, str]:
    ec2 = world.client("ec2")
    if kind == "missing":
        return "ami-0123456789abcdef0", "not found in region us-east-1"
    if kind == "not available":
        ami = register_ami(ec2, "app", "5.0.0")
        ec2.disable_image(ImageId=ami)
        return ami, "expected 'available'"
    if kind == "wrong role":
        return register_ami(ec2, "chroma", "5.0.0"), "golden:role=chroma, expected app"
    if kind == "untested":
        return register_ami(ec2, "app", "5.0.0", tested=False), "in-bake tests did not pass"
    if kind == "other region":
        west = world.client("ec2", region="us-west-2")
        return register_ami(west, "app", "5.0.0"), "not found in region us-east-1"
    if kind == "deprecated":
        ami = register_ami(ec2, "app", "5.0.0")
        ec2.enable_image_deprecation(ImageId=ami, DeprecateAt=datetime.now(timezone.utc))
        return ami, "deprecated since"
    if kind == "no role tag":
        ami = ec2.register_image(Name="someone-elses-image")["ImageId"]
        return ami, f"has no {T.ROLE} tag"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "not available",
        "wrong role",
        "untested",
        "other region",
        "deprecated",
        "no role tag",
    ],
)
def test_bad_ami_is_refused_with_zero_mutating_calls(world, kind):
    ami, expected = _break_ami(world, kind)
    world.emulator.clear_requests()
    result = world.release(ami)
    assert result.exit_code == 3, result.stderr
    assert expected in result.stderr and "nothing was changed" in result.stderr
    assert world.actions(), "the pre-flight did read AWS"
    assert world.mutating_calls() == []


def test_malformed_ami_id_is_a_usage_error(world):
    result = world.release("my-image")
    assert result.exit_code == 2 and "--ami" in result.stderr
    assert world.actions() == []


def test_group_on_latest_is_refused(world, new_ami):
    world.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="golden-local-app",
        LaunchTemplate={"LaunchTemplateName": "golden-local-app", "Version": "$Latest"},
    )
    world.emulator.clear_requests()
    result = world.release(new_ami)
    assert result.exit_code == 3 and "$Latest" in result.stderr
    assert world.mutating_calls() == []


def test_dry_run_shows_the_plan_and_changes_nothing(world, new_ami):
    result = world.release(new_ami, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True and plan["changes"]["ImageId"] == [_old_ami(world), new_ami]
    assert plan["batches"] == [1, 1]
    assert world.mutating_calls() == []


def test_killed_release_run_again_attaches_instead_of_starting_anew(world, new_ami):
    # A real process, killed with SIGKILL while it waits between two polls.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "golden.cli",
            "release",
            str(world.settings),
            "--role",
            "app",
            "--ami",
            new_ami,
            "--poll-min-seconds",
            "60",
            "--poll-max-seconds",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "started instance refresh" not in seen and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
        assert "started instance refresh" in seen, seen
        time.sleep(0.5)  # let it make its first poll and go to sleep
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()

    result = world.release(new_ami, "--json")
    assert result.exit_code == 0, result.stderr
    assert "attaching to instance refresh" in result.stderr
    assert json.loads(result.stdout)["attached"] is True
    actions = world.actions()
    assert actions.count("StartInstanceRefresh") == 1
    assert actions.count("CreateLaunchTemplateVersion") == 1
    assert set(world.instance_amis().values()) == {new_ami}
    assert world.template()["DefaultVersionNumber"] == 2


def test_interrupted_before_the_refresh_reuses_the_version_it_made(world, new_ami, monkeypatch):
    from autoscaling import release as release_module

    original = release_module.refresh.start_request

    def crash(role, template_id, version):
        if version:  # the real request, after the version was created
            raise KeyboardInterrupt
        return original(role, template_id, version)

    monkeypatch.setattr(release_module.refresh, "start_request", crash)
    interrupted = world.release(new_ami)
    assert interrupted.exit_code == 1  # click's "Aborted!" on Ctrl-C
    assert "StartInstanceRefresh" not in world.actions()
    monkeypatch.setattr(release_module.refresh, "start_request", original)
    result = world.release(new_ami, "--json")
    assert result.exit_code == 0, result.stderr
    assert "reusing launch template version 2" in result.stderr
    assert world.actions().count("CreateLaunchTemplateVersion") == 1


def test_chroma_release_replaces_its_single_instance_terminate_then_launch(seeded):
    applied = seeded.golden("env", "apply", seeded.settings, "--yes", "--role", "chroma")
    assert applied.exit_code == 0, applied.stderr
    ami = register_ami(seeded.client("ec2"), "chroma", "2.0.0")
    result = seeded.release(ami, "--json", role="chroma")
    assert result.exit_code == 0, result.stderr
    assert set(seeded.instance_amis("chroma").values()) == {ami}
    assert len(seeded.instance_amis("chroma")) == 1
    refresh = seeded.client("autoscaling").describe_instance_refreshes(
        AutoScalingGroupName="golden-local-chroma"
    )["InstanceRefreshes"][0]
    assert refresh["Preferences"]["MinHealthyPercentage"] == 0
    assert refresh["Preferences"]["MaxHealthyPercentage"] == 100
    data = seeded.version_data(json.loads(result.stdout)["new_version"], role="chroma")
    tags = {
        t["Key"]: t["Value"]
        for spec in data["TagSpecifications"]
        if spec["ResourceType"] == "instance"
        for t in spec["Tags"]
    }
    assert tags[T.DATA_VOLUME] == "golden-local-chroma-data"


def test_second_operator_racing_past_preflight_is_refused_clearly(world, new_ami, monkeypatch):
    from autoscaling import release as release_module

    original = release_module.refresh.start_request
    asg = world.client("autoscaling")

    def someone_else_starts_first(role, template_id, version):
        if version:  # between our pre-flight and our StartInstanceRefresh
            asg.start_instance_refresh(AutoScalingGroupName="golden-local-app")
        return original(role, template_id, version)

    monkeypatch.setattr(release_module.refresh, "start_request", someone_else_starts_first)
    result = world.release(new_ami)
    assert result.exit_code == 3
    assert "another instance refresh started" in result.stderr
    assert set(world.instance_amis().values()) == {_old_ami(world)}
