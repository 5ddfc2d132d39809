"""`golden env plan|apply` against the emulator."""

from __future__ import annotations

import base64
import json

import yaml
from golden.core import instance_doc


def test_plan_on_a_fresh_account_lists_creations_and_changes_nothing(seeded):
    result = seeded.golden("env", "plan", seeded.settings, "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    ops = [(p["role"], s["op"]) for p in plan["plans"] for s in p["steps"]]
    assert ("app", "create_template") in ops and ("app", "create_group") in ops
    assert ("app", "put_policy") in ops and ("chroma", "create_group") in ops
    assert ("chroma", "put_policy") not in ops
    assert seeded.mutating_calls() == []


def test_apply_without_yes_only_prints_the_plan(seeded):
    result = seeded.golden("env", "apply", seeded.settings)
    assert result.exit_code == 0
    assert "create Auto Scaling group golden-local-app" in result.stdout
    assert "add --yes" in result.stderr
    assert seeded.mutating_calls() == []


def test_apply_then_plan_is_empty_and_a_second_apply_changes_nothing(seeded):
    first = seeded.golden("env", "apply", seeded.settings, "--yes", "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["changes"] > 0
    seeded.emulator.clear_requests()

    again = seeded.golden("env", "apply", seeded.settings, "--yes", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["changes"] == 0
    assert seeded.mutating_calls() == []
    plan = seeded.golden("env", "plan", seeded.settings)
    assert "no changes" in plan.stdout


def test_written_template_requires_imdsv2_encrypts_gp3_and_carries_the_instance_document(world):
    group = world.group()
    version = group["LaunchTemplate"]["Version"]
    assert version.isdigit(), "the group must name an explicit version"
    data = world.version_data(version)
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    ebs = data["BlockDeviceMappings"][0]["Ebs"]
    assert ebs["Encrypted"] is True and ebs["VolumeType"] == "gp3"
    doc = instance_doc.parse_user_data(base64.b64decode(data["UserData"]).decode())
    assert doc["environment"] == "local" and doc["role"] == "app"
    assert doc["ssm"]["path"] == "/golden/local/"
    assert len(group["Instances"]) == 2
    policies = world.client("autoscaling").describe_policies(
        AutoScalingGroupName=group["AutoScalingGroupName"]
    )["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["golden-local-app-cpu"]


def test_changed_settings_make_a_new_pinned_version_based_on_the_current_one(world):
    data = yaml.safe_load(world.settings.read_text())
    data["roles"]["app"]["instance_type"] = "t3.small"
    data["roles"]["app"]["capacity"]["max"] = 5
    world.settings.write_text(yaml.safe_dump(data, sort_keys=False))
    before = world.group()["LaunchTemplate"]["Version"]
    image_before = world.version_data(before)["ImageId"]

    plan = world.golden("env", "plan", world.settings)
    assert "InstanceType: t3.micro -> t3.small" in plan.stdout
    assert "MaxSize: 4 -> 5" in plan.stdout
    applied = world.golden("env", "apply", world.settings, "--yes", "--role", "app")
    assert applied.exit_code == 0, applied.stderr

    group = world.group()
    after = group["LaunchTemplate"]["Version"]
    assert int(after) == int(before) + 1 and group["MaxSize"] == 5
    new = world.version_data(after)
    assert new["InstanceType"] == "t3.small"
    assert new["ImageId"] == image_before, "only a release changes the AMI"
    assert "no changes" in world.golden("env", "plan", world.settings, "--role", "app").stdout


def test_plan_pins_a_group_that_uses_latest(world):
    asg = world.client("autoscaling")
    asg.update_auto_scaling_group(
        AutoScalingGroupName="golden-local-app",
        LaunchTemplate={"LaunchTemplateName": "golden-local-app", "Version": "$Latest"},
    )
    plan = world.golden("env", "plan", world.settings, "--role", "app")
    assert "version $Latest -> golden-local-app version 1" in plan.stdout
    assert world.golden("env", "apply", world.settings, "--yes").exit_code == 0
    assert world.group()["LaunchTemplate"]["Version"] == "1"


def test_bad_settings_fail_naming_file_and_key_before_any_aws_call(seeded):
    data = yaml.safe_load(seeded.settings.read_text())
    data["roles"]["app"]["capacity"]["desired"] = "two"
    seeded.settings.write_text(yaml.safe_dump(data))
    result = seeded.golden("env", "apply", seeded.settings, "--yes")
    assert result.exit_code == 2
    assert "roles.app.capacity.desired: expected an integer" in result.stderr
    assert str(seeded.settings) in result.stderr
    assert seeded.actions() == []


def test_a_secret_in_the_instance_section_is_refused(seeded):
    data = yaml.safe_load(seeded.settings.read_text())
    data["instance"]["database"]["password"] = "hunter2"
    seeded.settings.write_text(yaml.safe_dump(data))
    result = seeded.golden("env", "plan", seeded.settings)
    assert result.exit_code == 2
    assert "database.password" in result.stderr and "SSM" in result.stderr
    assert seeded.actions() == []


def test_settings_are_checked_against_the_schema_file_before_any_aws_call(seeded):
    data = yaml.safe_load(seeded.settings.read_text())
    data["roles"]["app"]["refresh"]["colour"] = "blue"
    del data["instance"]["ssm_path"]
    seeded.settings.write_text(yaml.safe_dump(data))
    result = seeded.golden("env", "plan", seeded.settings)
    assert result.exit_code == 2
    # Of several problems the first by key is reported, naming the file and the key.
    assert f"{seeded.settings}: instance.ssm_path: missing (expected a string)" in result.stderr
    assert seeded.actions() == []


# -- the timeout chain's part in AWS (autoscaling/timeouts.py) ------------------------------
# ELBv2 API reference: deregistration_delay.timeout_seconds (0-3600, default 300) is a
# target group attribute, idle_timeout.timeout_seconds (1-4000, default 60) a load
# balancer attribute. The seed puts an ALB with a listener in front of the app's target
# group, as the account has.
def _timeouts(seeded) -> tuple[str, str]:
    elbv2 = seeded.client("elbv2")
    (tg,) = elbv2.describe_target_groups(Names=["golden-local-app"])["TargetGroups"]
    delay = next(a["Value"] for a in elbv2.describe_target_group_attributes(
        TargetGroupArn=tg["TargetGroupArn"])["Attributes"]
        if a["Key"] == "deregistration_delay.timeout_seconds")  # fmt: skip
    (lb,) = tg["LoadBalancerArns"]
    idle = next((a["Value"] for a in elbv2.describe_load_balancer_attributes(
        LoadBalancerArn=lb)["Attributes"] if a["Key"] == "idle_timeout.timeout_seconds"),
        "60")  # fmt: skip
    return idle, delay


def test_apply_sets_the_load_balancer_timeouts_the_chain_derives(seeded):
    from autoscaling import timeouts

    links = timeouts.chain(timeouts.load_inputs())
    assert _timeouts(seeded) == ("60", "300")  # AWS's defaults: the chain is broken
    plan = json.loads(seeded.golden("env", "plan", seeded.settings, "--json").stdout)
    diffs = {d["field"]: (d["before"], d["after"]) for p in plan["plans"] for s in p["steps"]
             if s["op"].startswith("set_") for d in s["diff"]}  # fmt: skip
    assert diffs == {
        "idle_timeout.timeout_seconds": ("60", str(links["lb_idle"])),
        "deregistration_delay.timeout_seconds": ("300", str(links["deregistration_delay"])),
    }
    assert seeded.mutating_calls() == []
    applied = seeded.golden("env", "apply", seeded.settings, "--yes")
    assert applied.exit_code == 0, applied.stderr
    idle, delay = _timeouts(seeded)
    assert int(idle) > links["request_max"] and int(delay) > links["request_max"]
    assert int(idle) < links["nginx_keepalive"]
    assert "no changes" in seeded.golden("env", "plan", seeded.settings).stdout


def test_load_balancer_settings_are_applied_when_they_keep_the_chain(seeded, tmp_path):
    data = yaml.safe_load(seeded.settings.read_text())
    data["roles"]["app"]["load_balancer"] = {"idle_timeout": 307, "deregistration_delay": 900}
    seeded.settings.write_text(yaml.safe_dump(data))
    assert seeded.golden("env", "apply", seeded.settings, "--yes").exit_code == 0
    assert _timeouts(seeded) == ("307", "900")


def test_load_balancer_settings_that_break_the_chain_are_refused_before_any_change(seeded):
    data = yaml.safe_load(seeded.settings.read_text())
    data["roles"]["app"]["load_balancer"] = {"idle_timeout": 60}
    seeded.settings.write_text(yaml.safe_dump(data))
    result = seeded.golden("env", "apply", seeded.settings, "--yes")
    assert result.exit_code == 2
    assert "roles.app.load_balancer.idle_timeout: expected more than 300" in result.stderr
    assert seeded.mutating_calls() == []
