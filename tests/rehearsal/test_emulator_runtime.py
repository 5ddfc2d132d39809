"""The emulator hands its lifecycle moments to a runtime (the rehearsal's containers and
load balancer; here a recorder): launches with the version's user data and the AMI's
tags, target registration, health from the runtime's checks, drain before termination on
scale-in, and Run Command scripts that really run. No Docker: the runtime only records."""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest
from botocore.config import Config

from autoscaling.emulator import Emulator
from autoscaling.emulator.seed import register_ami

USER_DATA = "#cloud-config\n# golden instance settings\n"


@pytest.fixture
def world(tmp_path, aws_env):
    log, health = tmp_path / "calls.jsonl", tmp_path / "health.json"
    emu = Emulator.subprocess(
        step_seconds=0, time_scale=1,
        args=("--runtime", "tests.rehearsal.fake_runtime:factory"),
        env={"FAKE_RUNTIME_LOG": str(log), "FAKE_RUNTIME_HEALTH": str(health)},
        log_file=open(tmp_path / "emulator.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    try:
        yield emu, log, health
    finally:
        emu.stop()


def _client(emu, service):
    return boto3.client(service, endpoint_url=emu.url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))  # fmt: skip


def _calls(log, kind):
    if not log.exists():
        return []
    return [c for c in map(json.loads, log.read_text().splitlines()) if c["call"] == kind]


def _group(emu):
    ec2, asg, elbv2 = (_client(emu, s) for s in ("ec2", "autoscaling", "elbv2"))
    vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.5.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]  # fmt: skip
    ami = register_ami(ec2, "app", "1.0.0")
    ec2.create_tags(Resources=[ami], Tags=[{"Key": "golden:twin-image", "Value": "sha256:abc"}])
    template = ec2.create_launch_template(
        LaunchTemplateName="t", LaunchTemplateData={
            "ImageId": ami, "InstanceType": "t3.micro",
            "UserData": base64.b64encode(USER_DATA.encode()).decode()},
    )["LaunchTemplate"]["LaunchTemplateId"]  # fmt: skip
    tg = elbv2.create_target_group(
        Name="tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "7"}])  # fmt: skip
    asg.create_auto_scaling_group(
        AutoScalingGroupName="g", MinSize=0, MaxSize=3, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
        VPCZoneIdentifier=subnet, TargetGroupARNs=[tg],
    )  # fmt: skip
    return ami, tg


def test_launches_reach_the_runtime_with_user_data_and_ami_tags(world):
    emu, log, _ = world
    ami, tg = _group(emu)
    launches = _calls(log, "launch")
    assert len(launches) == 2
    assert {c["user_data"] for c in launches} == {USER_DATA}
    assert {c["image_id"] for c in launches} == {ami}
    assert all(c["image_tags"]["golden:twin-image"] == "sha256:abc" for c in launches)
    assert all(c["group_name"] == "g" and c["template_version"] == 1 for c in launches)
    registered = _calls(log, "register")
    assert sorted(c["instance"] for c in registered) == sorted(c["instance_id"] for c in launches)
    assert {(c["arn"], c["port"]) for c in registered} == {(tg, 80)}


def test_target_health_comes_from_the_runtime(world):
    emu, log, health = world
    _, tg = _group(emu)
    a, b = (c["instance_id"] for c in _calls(log, "launch"))
    health.write_text(json.dumps({a: "healthy", b: "unhealthy"}))
    states = {
        d["Target"]["Id"]: d["TargetHealth"]["State"]
        for d in _client(emu, "elbv2").describe_target_health(TargetGroupArn=tg)[
            "TargetHealthDescriptions"]
    }  # fmt: skip
    assert states == {a: "healthy", b: "unhealthy"}


def test_scale_in_drains_for_the_deregistration_delay_then_terminates(world):
    emu, log, _ = world
    _, tg = _group(emu)
    _client(emu, "autoscaling").set_desired_capacity(AutoScalingGroupName="g",
                                                     DesiredCapacity=1)  # fmt: skip
    (gone,) = _calls(log, "terminate")
    (drained,) = _calls(log, "deregister")
    assert drained == {"call": "deregister", "arn": tg, "instance": gone["instance"], "delay": 7.0}
    assert gone["drain"] == 7.0
    group = _client(emu, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]  # fmt: skip
    assert [i["InstanceId"] for i in group["Instances"]] != [gone["instance"]]
    assert len(group["Instances"]) == 1


def test_run_command_scripts_run_in_the_instance_and_report_their_exit(world):
    emu, log, _ = world
    _group(emu)
    instance = _calls(log, "launch")[0]["instance_id"]
    ssm = _client(emu, "ssm")
    results = {}
    for name, script in (("ok", "echo hi"), ("bad", "echo hi\nexit 3")):
        command = ssm.send_command(
            InstanceIds=[instance], DocumentName="AWS-RunShellScript",
            Parameters={"commands": [script], "executionTimeout": ["120"]},
        )["Command"]["CommandId"]  # fmt: skip
        for _ in range(100):
            inv = ssm.get_command_invocation(CommandId=command, InstanceId=instance)
            if inv["Status"] not in ("Pending", "InProgress", "Delayed"):
                break
            time.sleep(0.05)
        results[name] = inv
    assert results["ok"]["Status"] == "Success"
    assert results["ok"]["StandardOutputContent"] == f"ran on {instance}"
    assert (results["bad"]["Status"], results["bad"]["ResponseCode"]) == ("Failed", 3)
    ran = _calls(log, "run_command")
    assert [c["script"] for c in ran] == ["echo hi", "echo hi\nexit 3"]
    assert {c["timeout"] for c in ran} == {120.0}


def test_a_rollback_drains_and_terminates_the_new_instance_that_failed(world):
    """The bad-image rehearsal (scenario b): the new instance never becomes healthy, the
    refresh rolls back, and the runtime hears of its drain and termination (else the load
    balancer keeps a dead server)."""
    emu, log, health = world
    ami, _tg = _group(emu)
    ec2, asg = _client(emu, "ec2"), _client(emu, "autoscaling")
    old = {c["instance_id"] for c in _calls(log, "launch")}
    health.write_text(json.dumps(dict.fromkeys(old, "healthy")))
    asg.update_auto_scaling_group(AutoScalingGroupName="g", HealthCheckType="ELB",
                                  HealthCheckGracePeriod=0)  # fmt: skip
    (template,) = ec2.describe_launch_templates()["LaunchTemplates"]
    ec2.create_launch_template_version(LaunchTemplateId=template["LaunchTemplateId"],
                                       SourceVersion="1", LaunchTemplateData={"ImageId": ami})
    asg.start_instance_refresh(
        AutoScalingGroupName="g",
        DesiredConfiguration={"LaunchTemplate": {
            "LaunchTemplateId": template["LaunchTemplateId"], "Version": "2"}},
        Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 150,
                     "InstanceWarmup": 0, "AutoRollback": True, "SkipMatching": False},
    )  # fmt: skip
    deadline, status, new = time.monotonic() + 60, None, set()
    while time.monotonic() < deadline and status not in ("RollbackSuccessful", "Failed",
                                                        "RollbackFailed", "Successful"):
        new = {c["instance_id"] for c in _calls(log, "launch")} - old
        health.write_text(json.dumps({**dict.fromkeys(old, "healthy"),
                                      **dict.fromkeys(new, "unhealthy")}))  # fmt: skip
        refresh = asg.describe_instance_refreshes(AutoScalingGroupName="g")["InstanceRefreshes"]
        status = refresh[0]["Status"]
        time.sleep(0.5)
    assert status == "RollbackSuccessful" and new
    assert new <= {c["instance"] for c in _calls(log, "deregister")}
    assert new <= {c["instance"] for c in _calls(log, "terminate")}


def test_an_instance_launched_from_a_template_outside_a_group_reaches_the_runtime(world):
    """A one-off task's instance (a release's migration): RunInstances with the launch
    template and version boots from that version's user data like a group's instance,
    runs its Run Command scripts in the runtime, and its termination reaches the runtime.
    An instance launched without a template (a Packer builder's) stays a record."""
    emu, log, _ = world
    ami, _tg = _group(emu)
    ec2, ssm = _client(emu, "ec2"), _client(emu, "ssm")
    (template,) = ec2.describe_launch_templates()["LaunchTemplates"]
    in_group = {c["instance_id"] for c in _calls(log, "launch")}
    (one_off,) = ec2.run_instances(
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "1"},
        MinCount=1, MaxCount=1,
    )["Instances"]  # fmt: skip
    ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)
    (launch,) = [c for c in _calls(log, "launch") if c["instance_id"] not in in_group]
    assert launch["instance_id"] == one_off["InstanceId"]
    assert launch["user_data"] == USER_DATA and launch["template_version"] == 1
    assert launch["group_name"] is None
    command = ssm.send_command(
        InstanceIds=[one_off["InstanceId"]], DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["alembic upgrade head", "exit 4"]},
    )["Command"]["CommandId"]  # fmt: skip
    for _ in range(100):
        inv = ssm.get_command_invocation(CommandId=command, InstanceId=one_off["InstanceId"])
        if inv["Status"] not in ("Pending", "InProgress", "Delayed"):
            break
        time.sleep(0.05)
    assert (inv["Status"], inv["ResponseCode"]) == ("Failed", 4)
    ec2.terminate_instances(InstanceIds=[one_off["InstanceId"]])
    assert [c["instance"] for c in _calls(log, "terminate")] == [one_off["InstanceId"]]
