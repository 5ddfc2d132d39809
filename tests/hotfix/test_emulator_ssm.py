"""The emulator's SSM Run Command, through boto3 over HTTP: what `golden hotfix` relies on
and where moto alone is wrong (it targets every instance and always reports Success)."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

SCRIPT = {"commands": ["echo hi"]}


@pytest.fixture
def aws(emulator):
    emulator.reset()

    def client(service):
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=emulator.url,
            config=Config(retries={"max_attempts": 1}),
        )

    ec2, ssm = client("ec2"), client("ssm")
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(ImageId="ami-12c6146b", MinCount=4, MaxCount=4)["Instances"]
    ]
    ec2.create_tags(Resources=ids[:2], Tags=[{"Key": "role", "Value": "app"}])
    return emulator, ec2, ssm, sorted(ids), ids


def send(ssm, **kw):
    return ssm.send_command(DocumentName="AWS-RunShellScript", Parameters=SCRIPT, **kw)["Command"]


def drive(ssm, command_id, polls=12):
    """Poll like a client does; returns every listing seen."""
    seen = []
    for _ in range(polls):
        listing = ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"]
        seen.append({i["InstanceId"]: i["StatusDetails"] for i in listing})
    return seen


def test_instance_ids_and_tag_targets_reach_only_those_instances(aws):
    _, _, ssm, _, ids = aws
    named = send(ssm, InstanceIds=[ids[3]])
    assert named["TargetCount"] == 1
    tagged = send(ssm, Targets=[{"Key": "tag:role", "Values": ["app"]}])
    listing = ssm.list_command_invocations(CommandId=tagged["CommandId"])["CommandInvocations"]
    assert sorted(i["InstanceId"] for i in listing) == sorted(ids[:2])


def test_bad_targets_are_refused_like_aws(aws):
    _, _, ssm, _, ids = aws
    with pytest.raises(ClientError) as unknown:
        send(ssm, InstanceIds=["i-0123456789abcdef0"])
    assert unknown.value.response["Error"]["Code"] == "InvalidInstanceId"
    with pytest.raises(ClientError) as both:
        send(ssm, InstanceIds=[ids[0]], Targets=[{"Key": "tag:role", "Values": ["app"]}])
    assert both.value.response["Error"]["Code"] == "ValidationException"


def test_an_invocation_goes_pending_in_progress_then_ends_with_its_output(aws):
    emulator, _, ssm, _, ids = aws
    emulator.ssm_outcome(ids[0], stdout="done\n", steps=2)
    command = send(ssm, InstanceIds=[ids[0]])
    statuses = []
    for _ in range(4):
        got = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=ids[0])
        statuses.append(got["StatusDetails"])
    assert statuses == ["Pending", "In Progress", "In Progress", "Success"]
    assert got["StandardOutputContent"] == "done\n" and got["ResponseCode"] == 0
    assert ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]["Status"] == "Success"


def test_failures_count_against_max_errors_but_undeliverable_and_delivery_timeouts_do_not(aws):
    emulator, _, ssm, ids, _ = aws
    emulator.ssm_outcome(ids[0], "Undeliverable")
    emulator.ssm_outcome(ids[1], "DeliveryTimedOut")
    emulator.ssm_outcome(ids[2], "TimedOut")
    emulator.ssm_outcome(ids[3], "Failed", response_code=3, stderr="boom")
    command = send(ssm, InstanceIds=ids, MaxConcurrency="1", MaxErrors="1")
    final = drive(ssm, command["CommandId"])[-1]
    assert [final[i] for i in ids] == [
        "Undeliverable",
        "Delivery Timed Out",
        "Execution Timed Out",
        "Failed",
    ]
    got = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=ids[3])
    assert (got["Status"], got["ResponseCode"], got["StandardErrorContent"]) == (
        "Failed",
        3,
        "boom",
    )
    summary = ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]
    assert summary["ErrorCount"] == 2 and summary["DeliveryTimedOutCount"] == 1
    assert summary["Status"] == "Failed"


def test_errors_within_the_limit_end_incomplete(aws):
    emulator, _, ssm, ids, _ = aws
    emulator.ssm_outcome(ids[0], "Failed")
    command = send(ssm, InstanceIds=ids, MaxConcurrency="100%", MaxErrors="25%")
    assert list(drive(ssm, command["CommandId"])[-1].values()).count("Success") == 3
    summary = ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]
    assert (summary["Status"], summary["StatusDetails"]) == ("Failed", "Incomplete")


def test_output_is_cut_at_the_aws_limits(aws):
    emulator, _, ssm, _, ids = aws
    emulator.ssm_outcome(ids[0], stdout="x" * 30000)
    command = send(ssm, InstanceIds=[ids[0]])
    drive(ssm, command["CommandId"], polls=3)
    got = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=ids[0])
    assert len(got["StandardOutputContent"]) == 24000
    detailed = ssm.list_command_invocations(CommandId=command["CommandId"], Details=True)
    assert len(detailed["CommandInvocations"][0]["CommandPlugins"][0]["Output"]) == 2500


def test_outcome_rules_can_depend_on_the_command_text(aws):
    emulator, _, ssm, _, ids = aws
    emulator.ssm_outcome(ids[0], "Failed", match="rm -rf")
    ok = send(ssm, InstanceIds=[ids[0]])
    bad = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=[ids[0]],
        Parameters={"commands": ["rm -rf /tmp/x"]},
    )["Command"]
    assert drive(ssm, ok["CommandId"])[-1][ids[0]] == "Success"
    assert drive(ssm, bad["CommandId"])[-1][ids[0]] == "Failed"


def test_cancel_stops_what_has_not_ended_and_reset_forgets_everything(aws):
    emulator, _, ssm, ids, _ = aws
    command = send(ssm, InstanceIds=ids, MaxConcurrency="1")
    ssm.cancel_command(CommandId=command["CommandId"])
    assert set(drive(ssm, command["CommandId"], polls=1)[0].values()) == {"Cancelled"}
    emulator.reset()
    assert emulator.ssm_state() == {"rules": {}, "commands": []}
    with pytest.raises(ClientError) as gone:
        ssm.list_command_invocations(CommandId=command["CommandId"])
    assert gone.value.response["Error"]["Code"] == "InvalidCommandId"
