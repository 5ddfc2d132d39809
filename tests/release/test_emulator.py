"""The emulator's own behaviour, through boto3 over HTTP (what the engine relies on)."""

from __future__ import annotations

import base64

import pytest
from botocore.exceptions import ClientError


def _lt(world, version="1"):
    return {"LaunchTemplateId": world.template()["LaunchTemplateId"], "Version": version}


def test_source_version_inherits_and_group_launches_use_the_groups_version(world):
    ec2 = world.client("ec2")
    template_id = world.template()["LaunchTemplateId"]
    user_data = base64.b64encode(b"#cloud-config\n# v2\n").decode()
    made = ec2.create_launch_template_version(
        LaunchTemplateId=template_id,
        SourceVersion="1",
        LaunchTemplateData={"ImageId": world.amis["app"][0], "UserData": user_data},
    )["LaunchTemplateVersion"]
    data = made["LaunchTemplateData"]
    assert (
        data["InstanceType"] == "t3.micro" and data["MetadataOptions"]["HttpTokens"] == "required"
    ), "SourceVersion parameters are inherited"
    # $Default stays version 1; a group pinned to version 2 must launch from version 2.
    asg = world.client("autoscaling")
    asg.update_auto_scaling_group(
        AutoScalingGroupName="golden-local-app", LaunchTemplate=_lt(world, "2"), DesiredCapacity=3
    )
    newest = [i for i in world.group()["Instances"] if i["LaunchTemplate"]["Version"] == "2"]
    assert len(newest) == 1
    instance_id = newest[0]["InstanceId"]
    assert world.instance_amis()[instance_id] == world.amis["app"][0]
    got = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    assert base64.b64decode(got["UserData"]["Value"]) == b"#cloud-config\n# v2\n"


def test_only_one_refresh_at_a_time_and_errors_without_one(world):
    asg = world.client("autoscaling")
    with pytest.raises(ClientError) as none:
        asg.cancel_instance_refresh(AutoScalingGroupName="golden-local-app")
    assert none.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"
    with pytest.raises(ClientError) as none:
        asg.rollback_instance_refresh(AutoScalingGroupName="golden-local-app")
    assert none.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"
    asg.start_instance_refresh(AutoScalingGroupName="golden-local-app")
    with pytest.raises(ClientError) as busy:
        asg.start_instance_refresh(AutoScalingGroupName="golden-local-app")
    assert busy.value.response["Error"]["Code"] == "InstanceRefreshInProgress"
    asg.cancel_instance_refresh(AutoScalingGroupName="golden-local-app")
    statuses = [
        asg.describe_instance_refreshes(AutoScalingGroupName="golden-local-app")[
            "InstanceRefreshes"
        ][0]["Status"]
        for _ in range(2)
    ]
    assert statuses == ["Cancelling", "Cancelled"]


def test_auto_rollback_is_refused_when_the_group_uses_latest(world):
    asg = world.client("autoscaling")
    asg.update_auto_scaling_group(
        AutoScalingGroupName="golden-local-app", LaunchTemplate=_lt(world, "$Latest")
    )
    with pytest.raises(ClientError) as err:
        asg.start_instance_refresh(
            AutoScalingGroupName="golden-local-app",
            DesiredConfiguration={"LaunchTemplate": _lt(world, "1")},
            Preferences={"AutoRollback": True},
        )
    assert "$Latest" in err.value.response["Error"]["Message"]


def test_rollback_of_a_refresh_without_desired_configuration_is_irreversible(world):
    asg = world.client("autoscaling")
    asg.start_instance_refresh(AutoScalingGroupName="golden-local-app")
    with pytest.raises(ClientError) as err:
        asg.rollback_instance_refresh(AutoScalingGroupName="golden-local-app")
    assert err.value.response["Error"]["Code"] == "IrreversibleInstanceRefresh"


def test_terminated_and_unhealthy_targets_are_reported(world):
    elbv2 = world.client("elbv2")
    arn = world.network["target_groups"]["golden-local-app"]
    victim = world.group()["Instances"][0]["InstanceId"]
    world.emulator.set_health(instance_id=victim, state="unhealthy")
    states = {
        t["Target"]["Id"]: t["TargetHealth"]["State"]
        for t in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    }
    assert states[victim] == "unhealthy"
    assert sorted(states.values()) == ["healthy", "unhealthy"]
    health = {i["InstanceId"]: i["HealthStatus"] for i in world.group()["Instances"]}
    assert health[victim] == "Unhealthy"


def test_reset_clears_refreshes_health_rules_and_the_request_log(world):
    asg = world.client("autoscaling")
    asg.start_instance_refresh(AutoScalingGroupName="golden-local-app")
    world.emulator.set_health(image_id="ami-12345678", state="unhealthy")
    world.emulator.reset()
    assert world.emulator.requests() == []
    assert world.emulator._call("GET", "health") == {"images": {}, "instances": {}}
    assert (
        asg.describe_instance_refreshes(AutoScalingGroupName="golden-local-app")[
            "InstanceRefreshes"
        ]
        == []
    )


def test_request_log_marks_mutating_calls(world):
    world.client("ec2").describe_images(Owners=["self"])
    world.client("ec2").create_tags(
        Resources=[world.amis["app"][0]], Tags=[{"Key": "k", "Value": "v"}]
    )
    log = world.emulator.requests()
    assert [(r["action"], r["mutating"], r["service"]) for r in log] == [
        ("DescribeImages", False, "ec2"),
        ("CreateTags", True, "ec2"),
    ]


def test_put_scaling_policy_answers_with_policy_arn(world):
    asg = world.client("autoscaling")
    reply = asg.put_scaling_policy(
        AutoScalingGroupName="golden-local-app",
        PolicyName="extra",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 40.0,
        },
    )
    assert reply["PolicyARN"].startswith("arn:aws:autoscaling:")


def test_in_process_server_records_requests_to_a_file(tmp_path):
    import json as jsonlib

    import boto3

    from autoscaling.emulator import Emulator

    record = tmp_path / "requests.jsonl"
    with Emulator.in_thread(record=str(record)) as emu:
        ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=emu.url)
        ec2.describe_vpcs()
        ec2.create_vpc(CidrBlock="10.9.0.0/16")
        assert [r["action"] for r in emu.mutating_requests()] == ["CreateVpc"]
    lines = [jsonlib.loads(line) for line in record.read_text().splitlines()]
    assert [(e["action"], e["region"], e["mutating"]) for e in lines] == [
        ("DescribeVpcs", "eu-west-1", False),
        ("CreateVpc", "eu-west-1", True),
    ]


JAMMY = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{arch}-server-*"


def _jammy(ec2, arch: str, aws_arch: str) -> list[dict]:
    """What the bake template's default source_ami_filter asks for."""
    return ec2.describe_images(
        Owners=["099720109477"],
        Filters=[
            {"Name": "name", "Values": [JAMMY.format(arch=arch)]},
            {"Name": "architecture", "Values": [aws_arch]},
            {"Name": "virtualization-type", "Values": ["hvm"]},
            {"Name": "root-device-type", "Values": ["ebs"]},
        ],
    )["Images"]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_every_region_holds_canonical_jammy_images_for_both_architectures(seeded, region):
    ec2 = seeded.client("ec2", region)
    for arch, aws_arch in (("amd64", "x86_64"), ("arm64", "arm64")):
        images = _jammy(ec2, arch, aws_arch)
        assert len(images) >= 2, f"{arch}: most_recent needs a choice"
        for image in images:
            assert image["OwnerId"] == "099720109477" and image["Public"] is True
            assert image["RootDeviceName"] == "/dev/sda1" and image["State"] == "available"
            assert image["Name"].startswith(JAMMY.format(arch=arch)[:-1])
            # Canonical's images have no owner alias on AWS ("amazon" is Amazon's own).
            assert "ImageOwnerAlias" not in image
        newest = max(images, key=lambda i: i["CreationDate"])
        assert newest["Name"] == max(i["Name"] for i in images), "serial and date agree"
    canonical = {i["ImageId"] for i in _jammy(ec2, "amd64", "x86_64")}
    assert not canonical & {i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"]}
    assert not canonical & {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}


def test_canonical_images_are_back_after_a_reset(seeded):
    before = {i["ImageId"] for i in _jammy(seeded.client("ec2"), "amd64", "x86_64")}
    seeded.emulator.reset()
    assert {i["ImageId"] for i in _jammy(seeded.client("ec2"), "amd64", "x86_64")} == before


def test_request_log_keeps_query_parameters(seeded):
    ec2 = seeded.client("ec2")
    ec2.run_instances(
        ImageId=seeded.amis["app"][0],
        MinCount=1,
        MaxCount=1,
        BlockDeviceMappings=[
            {
                "DeviceName": "/dev/sda1",
                "Ebs": {
                    "VolumeSize": 20,
                    "VolumeType": "gp3",
                    "Encrypted": True,
                    "Iops": 3000,
                    "Throughput": 125,
                },
            }
        ],
    )
    (entry,) = [r for r in seeded.emulator.requests() if r["action"] == "RunInstances"]
    params = entry["params"]
    assert params["BlockDeviceMapping.1.Ebs.VolumeType"] == "gp3"
    assert params["BlockDeviceMapping.1.Ebs.Encrypted"] == "true"
    assert params["BlockDeviceMapping.1.Ebs.Throughput"] == "125"
    assert params["ImageId"] == seeded.amis["app"][0]
    assert "Action" not in params and "Version" not in params


def test_request_log_never_keeps_json_bodies_or_secret_parameters(seeded):
    import json as jsonlib

    seeded.client("ssm").put_parameter(
        Name="/golden/local/db_password", Value="s3cret-json", Type="SecureString"
    )
    iam = seeded.client("iam")
    iam.create_user(UserName="operator")
    iam.create_login_profile(UserName="operator", Password="s3cret-query-Aa1!")
    log = seeded.emulator.requests()
    (put,) = [r for r in log if r["action"] == "PutParameter"]
    assert "params" not in put
    (login,) = [r for r in log if r["action"] == "CreateLoginProfile"]
    assert login["params"] == {"Password": "(masked)", "UserName": "operator"}
    assert "s3cret" not in jsonlib.dumps(log)


def test_declared_faults_answer_aws_errors_a_given_number_of_times_then_stop(world):
    """The documented eventual-consistency errors, on demand: EC2 "might not have
    propagated" a new resource, so a call right after can answer it does not exist
    (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)."""
    ec2, asg = world.client("ec2"), world.client("autoscaling")
    ami = world.amis["app"][0]
    world.emulator.fault(
        "DescribeImages", "InvalidAMIID.NotFound", times=2, match={"ImageId.1": ami}
    )
    world.emulator.fault("StartInstanceRefresh", "ResourceContention")
    codes = []
    for _ in range(3):
        try:
            ec2.describe_images(ImageIds=[ami])
            codes.append(None)
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert codes == ["InvalidAMIID.NotFound", "InvalidAMIID.NotFound", None]
    ec2.describe_images(ImageIds=[world.amis["app"][1]])  # not matched: answered normally
    with pytest.raises(ClientError) as busy:
        asg.start_instance_refresh(AutoScalingGroupName="golden-local-app")
    assert busy.value.response["Error"]["Code"] == "ResourceContention"
    assert (
        asg.describe_instance_refreshes(AutoScalingGroupName="golden-local-app")[
            "InstanceRefreshes"
        ]
        == []
    ), "a faulted call does nothing"
    assert world.emulator.faults() == []
    faulted = [r["fault"] for r in world.emulator.requests() if r.get("fault")]
    assert faulted == ["InvalidAMIID.NotFound", "InvalidAMIID.NotFound", "ResourceContention"]
    with pytest.raises(Exception, match="400"):
        world.emulator.fault("DeleteSnapshot", "InvalidSnapshot.InUse", times=0)
