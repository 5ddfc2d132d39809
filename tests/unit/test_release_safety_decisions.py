"""Pure decisions of the release engine for the safety rules of issue 20: a release is its
whole launch data, a retry is a no-op, gates and capacity are checked before any change,
golden's preview cuts batches at checkpoints, a refresh not listed yet is waited for."""

from __future__ import annotations

import pytest
from golden.core.errors import OperationFailed, PreflightError

from autoscaling import batches, preflight, refresh, templates
from autoscaling.release import _reusable_version, verification_problems
from autoscaling.settings import load

from .test_release_decisions import NOW, FakeClock, inputs, row


# -- a release is its whole launch data (issue 20 item 4) -------------------------------------
def test_launch_identity_is_every_launch_parameter_normalised():
    base = {
        "ImageId": "ami-1",
        "UserData": "I2Nsb3VkLWNvbmZpZwo=",  # "#cloud-config\n"
        "SecurityGroupIds": ["sg-2", "sg-1"],
        "MetadataOptions": {"HttpTokens": "required", "State": "applied"},
        "KeyName": "ops",
    }
    same = {
        **base,
        "UserData": "#cloud-config\n",
        "SecurityGroupIds": ["sg-1", "sg-2"],
        "MetadataOptions": {"HttpTokens": "required"},
        "RamDiskId": None,
    }
    assert templates.identity_differences(base, same) == []
    assert templates.identity_differences(base, {**same, "KeyName": "other"}) == ["KeyName"]
    assert templates.identity_differences(base, {**same, "UserData": "#cloud-config\nx: 1\n"}) == [
        "UserData"
    ]
    assert templates.identity_differences(base, {**same, "ImageId": "ami-2"}) == ["ImageId"]


def test_release_data_is_the_group_version_with_ami_user_data_and_imdsv2():
    current = {"ImageId": "ami-old", "UserData": "b2xk", "InstanceType": "t3.micro"}
    data = templates.release_data(current, "ami-new", "bmV3")
    assert data == {
        "ImageId": "ami-new",
        "UserData": "bmV3",
        "InstanceType": "t3.micro",
        "MetadataOptions": templates.METADATA_OPTIONS,
    }
    assert current["ImageId"] == "ami-old", "the input is not changed"


def test_a_version_is_reused_only_when_its_whole_launch_data_is_this_release():
    expected = {"ImageId": "ami-new", "UserData": "dXNlcg==", "KeyName": "ops"}
    versions = [
        {"VersionNumber": 3, "LaunchTemplateData": dict(expected)},
        {"VersionNumber": 4, "LaunchTemplateData": {**expected, "ImageId": "ami-old"}},
        {"VersionNumber": 5, "LaunchTemplateData": {**expected, "KeyName": "someone-else"}},
    ]
    assert _reusable_version(versions, 4, expected) == 3
    assert _reusable_version(versions[1:], 4, expected) is None, "same AMI is not enough"


def _active(version="5"):
    return {
        "InstanceRefreshId": "r-1",
        "Status": "InProgress",
        "DesiredConfiguration": {"LaunchTemplate": {"Version": version}},
    }


def test_preflight_attaches_only_to_a_refresh_of_the_same_launch_data():
    expected = {"ImageId": "ami-0123456789abcdef0", "UserData": "I25ldw=="}
    in_flight = {**expected, "UserData": "I29sZA=="}  # same AMI, other user data
    with pytest.raises(PreflightError) as err:
        preflight.decide(inputs(active=_active(), active_data=in_flight, expected=expected), NOW)
    assert "r-1" in str(err.value) and "same AMI but other launch data (UserData" in str(err.value)


# -- the group already runs this release (issue 20 item 1) ------------------------------------
def _same(rows, default=4, known_good=(1, 4), **changes):
    data = {"ImageId": "ami-0123456789abcdef0", "UserData": "dXNlcg==", **SECURE}
    return inputs(
        group_version={"LaunchTemplateData": data},
        expected=dict(data),
        template={"LaunchTemplateId": "lt-1", "DefaultVersionNumber": default},
        known_good=list(known_good),
        rows=rows,
        **changes,
    )


SECURE = {
    "MetadataOptions": {"HttpTokens": "required"},
    "BlockDeviceMappings": [
        {"DeviceName": "/dev/sda1", "Ebs": {"Encrypted": True, "VolumeType": "gp3"}}
    ],
}
ON_IT = [
    row("i-1", ami="ami-0123456789abcdef0", version="4", targets=()),
    row("i-2", ami="ami-0123456789abcdef0", version="4", targets=()),
]


def test_preflight_does_nothing_for_a_release_the_group_already_runs():
    assert preflight.decide(_same(ON_IT), NOW).action == "none"
    assert preflight.decide(_same(ON_IT, default=3), NOW).action == "record"
    assert preflight.decide(_same(ON_IT, known_good=(1,)), NOW).action == "record"


def test_preflight_refreshes_to_the_groups_own_version_when_instances_lag_behind():
    behind = [ON_IT[0], {**ON_IT[1], "launch_template_version": "3", "ami": "ami-old"}]
    decision = preflight.decide(_same(behind), NOW)
    assert (decision.action, decision.reuse_group_version, decision.desired_version) == (
        "start",
        True,
        4,
    )


def test_preflight_refuses_a_release_the_group_runs_but_that_does_not_check_out():
    sick = [ON_IT[0], {**ON_IT[1], "health": "Unhealthy"}]
    with pytest.raises(PreflightError, match="i-2 health is Unhealthy.*golden rollback"):
        preflight.decide(_same(sick), NOW)


# -- gates and capacity (issue 20 items 2 and 3) ----------------------------------------------
@pytest.mark.parametrize(
    "alarms,expected",
    [
        (
            {"app-5xx": "OK", "app-5XX": None},
            "gating alarm 'app-5XX' (roles.app.alarms) does not exist",
        ),
        ({"app-5xx": "ALARM"}, "gating alarm 'app-5xx' is in ALARM"),
    ],
)
def test_preflight_refuses_a_gate_that_is_missing_or_already_firing(alarms, expected):
    with pytest.raises(PreflightError) as err:
        preflight.decide(inputs(alarms=alarms), NOW)
    assert expected in str(err.value)
    assert preflight.decide(inputs(alarms={"app-5xx": "INSUFFICIENT_DATA"}), NOW).action == "start"


def test_preflight_refuses_an_empty_group():
    group = {"LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "4"}, "DesiredCapacity": 0}
    with pytest.raises(PreflightError, match="desired capacity 0: there is no instance"):
        preflight.decide(inputs(group=group), NOW)


def test_a_rollback_refresh_is_not_gated_by_an_alarm_already_firing():
    role = load("staging").role("app")
    prefs = refresh.start_request(role, "lt-1", 3, ("golden-staging-app-5xx",))["Preferences"]
    assert prefs["AlarmSpecification"] == {"Alarms": ["golden-staging-app-p95-latency"]}


def test_verification_accepts_an_empty_group_only_when_told_to():
    assert verification_problems([], "ami-new", 5, True) == ["no InService instances"]
    assert verification_problems([], "ami-new", 5, True, expect_instances=False) == []


# -- golden's preview cuts batches at checkpoints -----------------------------------------------
def test_preview_batches_stop_at_each_checkpoint():
    """AWS's example: 10 instances, checkpoints [20, 50], minimum healthy 80%: "Two old
    instances are replaced ... (To maintain the minimum healthy percentage, only two
    instances are replaced.) ... One old instance is replaced with a new one" and the
    refresh pauses at 50% (https://docs.aws.amazon.com/autoscaling/ec2/userguide/
    asg-adding-checkpoints-instance-refresh.html)."""
    assert batches.batches(10, 10, 80, 100, [20, 50, 100]) == [2, 2, 1, 2, 2, 1]
    assert batches.batches(10, 10, 80, 100) == [2, 2, 2, 2, 2]
    assert batches.batches(2, 2, 50, 100, [50, 100]) == [1, 1]


# -- a refresh just started may not be listed yet ---------------------------------------------
def test_wait_tolerates_a_refresh_not_listed_yet_but_not_one_that_vanishes():
    answers = iter([None, None, {"Status": "InProgress"}, {"Status": "Successful"}])
    clock = FakeClock()
    timing = refresh.Timing(min_interval=1, timeout=100, sleep=clock.sleep, clock=clock.clock)
    assert refresh.wait(lambda: next(answers), timing)["Status"] == "Successful"
    vanishing = iter([{"Status": "InProgress"}, None])
    with pytest.raises(OperationFailed, match="disappeared"):
        refresh.wait(lambda: next(vanishing), timing)
    with pytest.raises(OperationFailed, match="still not listed"):
        refresh.wait(lambda: None, timing)


def test_metadata_options_at_their_documented_defaults_equal_omitted_ones():
    asked = {"MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}}
    answered = {
        "MetadataOptions": {
            "HttpTokens": "required",
            "HttpPutResponseHopLimit": 2,
            "HttpEndpoint": "enabled",
            "HttpProtocolIpv6": "disabled",
            "InstanceMetadataTags": "disabled",
            "State": "applied",
        }
    }
    assert templates.identity_differences(asked, answered) == []
    tags_on = {
        "MetadataOptions": {**answered["MetadataOptions"], "InstanceMetadataTags": "enabled"}
    }
    assert templates.identity_differences(asked, tags_on) == ["MetadataOptions"]
