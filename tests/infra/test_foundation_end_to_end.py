"""From an empty account to a release and back (docs/foundation.md), against the emulator:
`golden infra apply`, the settings from the stack's outputs only, `golden env apply`, a
release, `golden infra destroy`."""

from __future__ import annotations

import json

from autoscaling.aws import Clients
from autoscaling.emulator import seed as seeding

FAST_POLL = ["--poll-min-seconds", "0.001", "--poll-max-seconds", "0.002"]


def _outputs(world) -> dict[str, str]:
    stack = world.client("cloudformation").describe_stacks(StackName=world.stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def _blank_what_the_stack_provides(data: dict) -> None:
    """Settings that know nothing the stack makes: every such key names nothing real."""
    for role in ("app", "chroma"):
        settings = data["roles"][role]
        settings.update(subnets=["unknown-subnet"], security_groups=["unknown-group"],
                        instance_profile="unknown-profile", alarms=[])  # fmt: skip
    data["roles"]["app"]["target_groups"] = ["unknown-target-group"]
    data["instance"]["database"]["host"] = "unknown.example"
    data["instance"]["redis"] = {"host": "unknown.example", "port": 6379, "db": 0}


def _assert_the_settings_name_the_stacks_values(settings: dict, outputs: dict) -> None:
    app, chroma = settings["roles"]["app"], settings["roles"]["chroma"]
    assert app["subnets"] == outputs["PrivateSubnetIds"].split(",")
    assert chroma["subnets"] == [outputs["ChromaSubnetId"]]
    assert app["security_groups"] == [outputs["AppSecurityGroupId"]]
    assert app["target_groups"] == [outputs["AppTargetGroupArn"]]
    assert app["instance_profile"] == outputs["AppInstanceProfileName"]
    assert settings["instance"]["database"]["host"] == outputs["DatabaseEndpoint"]
    assert settings["instance"]["redis"] == {"host": outputs["CacheEndpoint"], "port": 6379,
                                             "db": 0, "tls": True, "auth": True}  # fmt: skip
    assert sorted(app["alarms"]) == sorted(outputs["AppAlarmNames"].split(","))
    assert chroma["alarms"] == [outputs["ChromaAlarmNames"]]


def test_empty_account_to_a_release_on_the_stacks_outputs_and_torn_down(staging):
    staging.edit_settings(_blank_what_the_stack_provides)
    # 1. The foundation.
    applied = staging.infra("apply", "--yes")
    assert applied.exit_code == 0, applied.stderr + applied.stdout
    assert staging.stack_status() == "CREATE_COMPLETE"
    assert "Database (AWS::RDS::DBInstance) CREATE_COMPLETE" in applied.stderr
    outputs = _outputs(staging)

    # 2. The settings take the stack's values: shown as a diff, then written.
    written = staging.infra("outputs", "--write")
    assert written.exit_code == 0, written.stderr
    assert "golden-staging-database." in written.stdout
    assert "+foundation_stack" not in written.stdout
    _assert_the_settings_name_the_stacks_values(staging.settings_data(), outputs)
    again = staging.infra("outputs", "--write")
    assert "already agrees" in again.stdout

    # 3. Groups and a release on top, from those settings only.
    env = staging.env
    seeding.seed_amis(env, Clients.for_env(env), 2)
    env_apply = staging.golden("env", "apply", staging.settings, "--yes")
    assert env_apply.exit_code == 0, env_apply.stderr + env_apply.stdout
    group = staging.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["golden-staging-app"])["AutoScalingGroups"][0]  # fmt: skip
    assert set(group["VPCZoneIdentifier"].split(",")) == set(
        outputs["PrivateSubnetIds"].split(","))  # fmt: skip
    assert group["TargetGroupARNs"] == [outputs["AppTargetGroupArn"]]
    elbv2 = staging.client("elbv2")
    attributes = elbv2.describe_target_group_attributes(
        TargetGroupArn=outputs["AppTargetGroupArn"])["Attributes"]  # fmt: skip
    # The stack set the timeout chain's delay already: env apply found nothing to change.
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "305"} in attributes
    assert "deregistration delay" not in env_apply.stdout
    new_ami = seeding.register_ami(staging.client("ec2"), "app", "1.1.0")
    release = staging.golden("release", staging.settings, "--role", "app", "--ami", new_ami,
                             *FAST_POLL, "--json")  # fmt: skip
    assert release.exit_code == 0, release.stderr + release.stdout
    assert json.loads(release.stdout)["status"] == "Successful"

    # 4. Tear down: refused while the groups stand in the stack's network.
    refused = staging.infra("destroy", "--yes")
    assert refused.exit_code == 3
    assert "golden-staging-app" in refused.stderr and "delete-auto-scaling-group" in refused.stderr
    asg = staging.client("autoscaling")
    for name in ("golden-staging-app", "golden-staging-chroma"):
        asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    destroyed = staging.infra("destroy", "--yes")
    assert destroyed.exit_code == 0, destroyed.stderr + destroyed.stdout
    assert staging.stack_status() is None
    # The data stores were kept: the uploads bucket, the database's final snapshot.
    buckets = [b["Name"] for b in staging.client("s3").list_buckets()["Buckets"]]
    assert "golden-staging-agent-data" in buckets and "golden-staging-artifacts" not in buckets
    snapshots = staging.client("rds").describe_db_snapshots(
        DBInstanceIdentifier="golden-staging-database")["DBSnapshots"]  # fmt: skip
    assert len(snapshots) == 1
    assert "kept: Database: a final snapshot" in destroyed.stdout
    vpcs = staging.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name",
                                                          "Values": ["golden-staging"]}])["Vpcs"]
    assert vpcs == []
