"""What a retried, mistyped or half-finished release must never do (issue 20), against the
emulator: a retry changes nothing, a gate that does not exist or already fires is refused
before any change, an empty group is refused, AWS's "Successful" is not taken for
golden's own check, and a release is the same release only when its whole launch data is.
"""

from __future__ import annotations

import json

import pytest
import yaml
from golden.core import retry

from autoscaling import refresh as refresh_module
from autoscaling import templates
from autoscaling.emulator.seed import register_ami

from .conftest import FAST_POLL

APP = "golden-local-app"
ALARM = "golden-local-app-5xx"


@pytest.fixture
def new_ami(world):
    ami = register_ami(world.client("ec2"), "app", "2.0.0")
    world.emulator.clear_requests()
    return ami


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(retry, "DEFAULT", retry.Backoff(sleep=waited.append))
    return waited


def _edit_settings(world, edit) -> None:
    data = yaml.safe_load(world.settings.read_text())
    edit(data)
    world.settings.write_text(yaml.safe_dump(data, sort_keys=False))


def _rollback(world, *extra: str):
    return world.golden("rollback", world.settings, "--role", "app", *FAST_POLL, *extra)


def _interrupt_while_waiting(monkeypatch):
    """The run is killed right after it started its refresh (Ctrl-C, lost SSH)."""

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(refresh_module, "wait", killed)


# -- 1. a retried release changes nothing -------------------------------------------------------
def test_a_retried_release_says_so_exits_0_and_changes_nothing(world, new_ami):
    first = world.release(new_ami, "--json")
    assert first.exit_code == 0, first.stderr
    instances = set(world.instance_amis())
    world.emulator.clear_requests()

    again = world.release(new_ami, "--json")
    assert again.exit_code == 0, again.stderr
    assert "already runs this release" in again.stderr
    out = json.loads(again.stdout)
    assert out["action"] == "none" and out["new_version"] == json.loads(first.stdout)["new_version"]
    assert world.mutating_calls() == []
    assert set(world.instance_amis()) == instances, "not one instance was replaced"


def test_a_retry_after_a_run_killed_past_success_only_finishes_the_bookkeeping(world, new_ami):
    assert world.release(new_ami).exit_code == 0
    # What a run killed between AWS's "Successful" and its bookkeeping leaves behind.
    ec2 = world.client("ec2")
    template_id = world.template()["LaunchTemplateId"]
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="1")
    ec2.create_tags(
        Resources=[template_id], Tags=[{"Key": "golden:known-good-versions", "Value": "1"}]
    )
    world.emulator.clear_requests()
    result = world.release(new_ami, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["action"] == "record"
    assert sorted(world.mutating_calls()) == ["CreateTags", "ModifyLaunchTemplate"]
    assert world.template()["DefaultVersionNumber"] == 2


def test_a_retry_of_a_release_that_does_not_check_out_is_refused_unchanged(world, new_ami):
    assert world.release(new_ami).exit_code == 0
    victim = next(iter(world.instance_amis()))
    world.emulator.set_health(instance_id=victim, state="unhealthy")
    world.emulator.clear_requests()
    result = world.release(new_ami)
    assert result.exit_code == 3
    assert "already runs this release" in result.stderr and victim in result.stderr
    assert "golden rollback" in result.stderr
    assert world.mutating_calls() == []


def test_settings_applied_by_env_apply_roll_out_with_the_groups_own_version(world):
    """The same AMI again after `env apply` wrote a version with new user data: the
    group's version already IS this release, so no second identical version is made."""
    old = world.amis["app"][-1]
    _edit_settings(world, lambda d: d["instance"].update(log_group_prefix="/golden/local-v2"))
    applied = world.golden("env", "apply", world.settings, "--yes", "--role", "app")
    assert applied.exit_code == 0, applied.stderr
    assert world.group()["LaunchTemplate"]["Version"] == "2"
    world.emulator.clear_requests()
    result = world.release(old, "--json")
    assert result.exit_code == 0, result.stderr
    assert "CreateLaunchTemplateVersion" not in world.actions()
    assert json.loads(result.stdout)["new_version"] == 2
    assert {i["LaunchTemplate"]["Version"] for i in world.group()["Instances"]} == {"2"}
    assert "/golden/local-v2" in templates.decode_user_data(world.version_data(2)["UserData"])


# -- 2. every gating alarm is looked up before anything changes ---------------------------------
def test_a_gating_alarm_that_does_not_exist_is_refused_with_zero_changes(world, new_ami):
    typo = "golden-local-app-5XX"
    _edit_settings(world, lambda d: d["roles"]["app"].update(alarms=[ALARM, typo]))
    result = world.release(new_ami)
    assert result.exit_code == 3, result.stderr
    assert f"gating alarm '{typo}'" in result.stderr and "does not exist" in result.stderr
    assert ALARM not in result.stderr.replace(typo, ""), "only the missing one is named"
    assert world.mutating_calls() == []


def test_a_gating_alarm_already_in_alarm_is_refused_with_zero_changes(world, new_ami):
    world.client("cloudwatch").set_alarm_state(
        AlarmName=ALARM, StateValue="ALARM", StateReason="5xx spike"
    )
    world.emulator.clear_requests()
    result = world.release(new_ami)
    assert result.exit_code == 3, result.stderr
    assert f"gating alarm '{ALARM}' is in ALARM" in result.stderr
    assert world.mutating_calls() == []


def test_a_rollback_is_refused_for_a_missing_alarm_and_not_gated_by_a_firing_one(world, new_ami):
    assert world.release(new_ami).exit_code == 0
    _edit_settings(world, lambda d: d["roles"]["app"].update(alarms=[ALARM, "nope"]))
    world.emulator.clear_requests()
    refused = _rollback(world)
    assert refused.exit_code == 3 and "'nope'" in refused.stderr
    assert world.mutating_calls() == []

    _edit_settings(world, lambda d: d["roles"]["app"].update(alarms=[ALARM]))
    world.client("cloudwatch").set_alarm_state(
        AlarmName=ALARM, StateValue="ALARM", StateReason="the bad release"
    )
    result = _rollback(world, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ungated_alarms"] == [ALARM]
    assert set(world.instance_amis().values()) == {world.amis["app"][-1]}


# -- 3. nothing to check is not success ----------------------------------------------------------
def test_an_empty_group_is_refused_at_preflight(world, new_ami):
    world.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=APP, MinSize=0, DesiredCapacity=0
    )
    world.emulator.clear_requests()
    result = world.release(new_ami)
    assert result.exit_code == 3, result.stderr
    assert "desired capacity 0" in result.stderr and "nothing was changed" in result.stderr
    assert world.mutating_calls() == []
    assert world.group()["LaunchTemplate"]["Version"] == "1"


def test_aws_success_that_golden_cannot_verify_names_the_state_and_the_way_back(
    world, new_ami, monkeypatch
):
    """A scaling policy takes the group to zero once the last batch is in: AWS ends the
    refresh Successful, there is nothing left for golden to check."""
    from autoscaling.progress import Reporter

    asg = world.client("autoscaling")
    original = Reporter.refresh_update

    def update(self, item):
        if item.get("Status") == "InProgress" and item.get("PercentageComplete") == 100:
            asg.update_auto_scaling_group(AutoScalingGroupName=APP, MinSize=0, DesiredCapacity=0)
        original(self, item)

    monkeypatch.setattr(Reporter, "refresh_update", update)
    result = world.release(new_ami)
    assert result.exit_code == 4, result.stderr
    assert "reported Successful" in result.stderr and "no InService instances" in result.stderr
    assert "launch template version 2" in result.stderr and "NOT verified" in result.stderr
    command = f"golden rollback {world.settings} --role app"
    assert command in result.stderr
    assert world.template()["DefaultVersionNumber"] == 1
    monkeypatch.setattr(Reporter, "refresh_update", original)

    # The command it names puts the group back on the known-good version.
    back = _rollback(world, "--json")
    assert back.exit_code == 0, back.stderr
    assert json.loads(back.stdout)["to_version"] == 1
    assert world.group()["LaunchTemplate"]["Version"] == "1"


# -- 4. a release is its whole launch data -------------------------------------------------------
def test_a_rerun_with_changed_settings_does_not_attach_to_the_refresh_in_flight(
    world, new_ami, monkeypatch
):
    original_wait = refresh_module.wait
    _interrupt_while_waiting(monkeypatch)
    assert world.release(new_ami).exit_code == 1  # "Aborted!": the refresh goes on in AWS
    monkeypatch.setattr(refresh_module, "wait", original_wait)
    refresh_id = world.client("autoscaling").describe_instance_refreshes(AutoScalingGroupName=APP)[
        "InstanceRefreshes"
    ][0]["InstanceRefreshId"]

    _edit_settings(world, lambda d: d["instance"].update(log_group_prefix="/golden/elsewhere"))
    world.emulator.clear_requests()
    refused = world.release(new_ami)
    assert refused.exit_code == 3, refused.stderr
    assert refresh_id in refused.stderr and "UserData" in refused.stderr
    assert "same AMI but other launch data" in refused.stderr
    assert world.mutating_calls() == []

    _edit_settings(world, lambda d: d["instance"].update(log_group_prefix="/golden/local"))
    attached = world.release(new_ami, "--json")
    assert attached.exit_code == 0, attached.stderr
    assert json.loads(attached.stdout)["attached"] is True


# -- 5. a template version followed by a refresh waits out eventual consistency ------------------
def test_a_fresh_version_not_yet_visible_and_a_busy_group_are_waited_out(world, new_ami, sleeps):
    world.emulator.fault(
        "DescribeLaunchTemplateVersions",
        "InvalidLaunchTemplateId.VersionNotFound",
        times=2,
        match={"LaunchTemplateVersion.1": "2"},
    )
    world.emulator.fault("StartInstanceRefresh", "ResourceContention", times=2)
    result = world.release(new_ami, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "Successful"
    delays = retry.DEFAULT.delays()
    assert sleeps == delays[:2] + delays[:2]
    assert world.actions().count("CreateLaunchTemplateVersion") == 1


def test_bookkeeping_that_fails_after_success_is_reported_and_a_retry_finishes_it(
    world, new_ami, sleeps
):
    world.emulator.fault(
        "CreateTags", "InvalidLaunchTemplateId.NotFound", times=50, match={"Tag.1.Value": "1 2"}
    )
    result = world.release(new_ami)
    assert result.exit_code == 4
    assert "recording it did not finish" in result.stderr
    assert "aws ec2 create-tags" in result.stderr
    assert world.template()["DefaultVersionNumber"] == 2, "the other step was still done"
    world.emulator._call("POST", "faults/clear", {})
    world.emulator.clear_requests()
    again = world.release(new_ami, "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["known_good_versions"] == [1, 2]
    assert world.mutating_calls() == ["CreateTags"]


def test_an_unverified_rollback_drops_the_bad_version_so_the_next_rollback_goes_back(world):
    """After `golden rollback` from version 3 to 2, AWS says Successful but golden's check
    fails: the named way back must not lead forward to version 3 again."""
    from autoscaling import knowngood, release

    for version in ("2.0.0", "3.0.0"):
        assert world.release(register_ami(world.client("ec2"), "app", version)).exit_code == 0
    role = world.env.role("app")
    template_id = world.template()["LaunchTemplateId"]
    error = release._Unverified(2, "ami-x", "r-1", ["i-1 health is Unhealthy"], 3).error(
        world.clients, role, template_id, {"env_ref": "local"}
    )
    assert "launch template version 2 (ami-x), which is NOT verified" in str(error)
    assert "go back to known-good version 1 with: golden rollback local --role app" in str(error)
    assert knowngood.read(world.template()) == [1, 2]


def test_a_retried_rollback_to_a_named_version_changes_nothing(world, new_ami):
    """The same weakness as a retried release: a plain rollback always goes one further
    back, so CI names the version and a retry finds the group already there."""
    assert world.release(new_ami).exit_code == 0
    first = _rollback(world, "--to-version", "1", "--json")
    assert first.exit_code == 0, first.stderr
    assert world.group()["LaunchTemplate"]["Version"] == "1"
    world.emulator.clear_requests()
    again = _rollback(world, "--to-version", "1", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["action"] == "none" and "nothing to do" in again.stderr
    assert world.mutating_calls() == []
    unknown = _rollback(world, "--to-version", "7")
    assert unknown.exit_code == 3 and "not recorded as known-good" in unknown.stderr
