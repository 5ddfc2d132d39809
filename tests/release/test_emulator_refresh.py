"""The emulator's instance refresh replaces instances the way AWS documents it, checked
over HTTP through boto3. Each test quotes the documented case it reproduces; the model
(autoscaling/emulator/refresh_batches.py) is written from these quotes, independently of
golden's own preview (autoscaling/batches.py), which the last test holds against it.

What the emulator does not model here: real time (a refresh moves one step per
DescribeInstanceRefreshes; warm-up and delays are scaled by time_scale), scale-outs
during a refresh, instance maintenance policies.
"""

from __future__ import annotations

import itertools

import pytest

from autoscaling import batches as golden_batches
from autoscaling.emulator import refresh_batches
from autoscaling.emulator.seed import register_ami

GROUP = "golden-local-app"
API = "https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html"
CHECKPOINTS = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-adding-checkpoints-instance-refresh.html"


def _desired_version(world) -> dict:
    """Launch-template version 2: version 1 with a new AMI."""
    ami = register_ami(world.client("ec2"), "app", "2.0.0")
    template_id = world.template()["LaunchTemplateId"]
    world.client("ec2").create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"ImageId": ami}
    )
    return {"LaunchTemplate": {"LaunchTemplateId": template_id, "Version": "2"}}


def _run(world, desired: int, preferences: dict, polls: int = 80) -> list[dict]:
    """Resize the group, start a refresh to version 2, poll it to its end. One entry per
    poll: what DescribeInstanceRefreshes said and what the group held at that moment."""
    asg = world.client("autoscaling")
    asg.update_auto_scaling_group(
        AutoScalingGroupName=GROUP, MaxSize=max(desired, 4), DesiredCapacity=desired
    )
    asg.start_instance_refresh(
        AutoScalingGroupName=GROUP,
        DesiredConfiguration=_desired_version(world),
        Preferences=preferences,
    )
    seen = []
    for _ in range(polls):
        item = asg.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"][0]
        instances = world.group()["Instances"]
        seen.append(
            {
                "status": item["Status"],
                "percentage": item["PercentageComplete"],
                "left": item["InstancesToUpdate"],
                "reason": item.get("StatusReason"),
                "size": len(instances),
                "new": sum(i["LaunchTemplate"]["Version"] == "2" for i in instances),
            }
        )
        if item["Status"] in ("Successful", "Failed", "Cancelled", "RollbackSuccessful"):
            return seen
    raise AssertionError(f"refresh did not end in {polls} polls: {seen[-3:]}")


def _batches(seen: list[dict]) -> list[int]:
    """How many new instances each batch added, from the group's size over the polls."""
    counts = [s["new"] for s in seen]
    return [b - a for a, b in itertools.pairwise([0, *counts]) if b > a]


def test_minimum_healthy_100_replaces_one_instance_at_a_time(world):
    """https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html
    "Setting the minimum healthy percentage to 100 percent limits the rate of
    replacement to one instance at a time. In contrast, setting it to 0 percent has the
    effect of replacing all instances at the same time." With MaxHealthyPercentage
    omitted, "Auto Scaling terminates an instance and launches its replacement
    simultaneously": the group never holds more than its desired capacity."""
    one = _run(world, 4, {"MinHealthyPercentage": 100})
    assert _batches(one) == [1, 1, 1, 1]
    assert max(s["size"] for s in one) == 4
    assert one[-1]["status"] == "Successful"


def test_minimum_healthy_0_replaces_every_instance_at_once(world):
    """https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html
    "setting it to 0 percent has the effect of replacing all instances at the
    same time"."""
    seen = _run(world, 4, {"MinHealthyPercentage": 0, "MaxHealthyPercentage": 100})
    assert _batches(seen) == [4]
    assert max(s["size"] for s in seen) == 4


def test_an_explicit_maximum_that_leaves_no_room_launches_before_terminating(world):
    """https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html
    (MaxHealthyPercentage) "When MaxHealthyPercentage is explicitly set and it
    is mathematically impossible to replace instances while honoring both
    MinHealthyPercentage and MaxHealthyPercentage bounds simultaneously, Auto Scaling
    launches a new instance before terminating an old one (temporarily exceeding the
    desired capacity)." 4 instances, minimum 100% keeps 4, maximum 110% allows
    floor(4.4) = 4 (rounding down is the model's assumption)."""
    seen = _run(world, 4, {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 110})
    assert _batches(seen) == [1, 1, 1, 1]
    assert max(s["size"] for s in seen) == 5, "one extra instance at a time"
    assert seen[-1]["size"] == 4 and seen[-1]["status"] == "Successful"


def test_minimum_100_maximum_150_launches_half_the_group_first_in_two_batches(world):
    """https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html
    "A larger range increases the number of instances that can be replaced at
    the same time." AWS on re:Post (https://repost.aws/questions/QULb7YPapSSsiUDMSrbIDTgg):
    "set MinHP to 100%; and MaxHP to 150%. This would mean the ASG would run 2 batches of
    replacements, but it would start by launching new instances first before terminating
    anything"."""
    seen = _run(world, 4, {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 150})
    assert _batches(seen) == [2, 2]
    assert max(s["size"] for s in seen) == 6
    assert min(s["size"] for s in seen) == 4, "never below the minimum healthy"


def test_checkpoints_cut_batches_pause_and_a_last_one_below_100_ends_the_refresh(world):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-adding-checkpoints-instance-refresh.html
    "assume that your Auto Scaling group has 10 instances. Your
    checkpoint percentages are [20,50] with a checkpoint delay of 15 minutes and a minimum
    healthy percentage of 80 percent": "Two old instances are replaced with new ones",
    then "Two old instances are replaced with new ones. (To maintain the minimum healthy
    percentage, only two instances are replaced.)", then "One old instance is replaced
    with a new one." and "At 0:35, the operation stops launching new instances". "A
    checkpoint is reached when the number of instances replaced reaches the percentage
    threshold ... equal to or higher than the percentage threshold, but not lower.\""""
    seen = _run(
        world,
        10,
        {"MinHealthyPercentage": 80, "CheckpointPercentages": [20, 50], "CheckpointDelay": 900},
    )
    assert _batches(seen) == [2, 2, 1]
    reasons = [s["reason"] for s in seen if s["reason"] and "Checkpoint" in s["reason"]]
    assert reasons == ["Checkpoint 20% reached."], "the last checkpoint ends it, no pause"
    assert seen[-1]["status"] == "Successful" and seen[-1]["new"] == 5
    assert min(s["size"] for s in seen) == 10, "replacements launch as old ones terminate"


def test_a_batch_that_passes_two_checkpoints_pauses_once_for_the_higher(world):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-adding-checkpoints-instance-refresh.html
    "suppose that your Auto Scaling group has two instances and your
    checkpoint percentages are [10,40,100]. After the first instance is replaced, Amazon
    EC2 Auto Scaling calculates that 50 percent of the group was replaced. Because 50
    percent is higher than the first two checkpoints, it skips the first checkpoint (10)
    and sends a notification for the second checkpoint (40).\""""
    seen = _run(world, 2, {"CheckpointPercentages": [10, 40, 100], "CheckpointDelay": 60})
    reasons = [s["reason"] for s in seen if s["reason"] and "Checkpoint" in s["reason"]]
    assert set(reasons) == {"Checkpoint 40% reached."}
    assert _batches(seen) == [1, 1] and seen[-1]["status"] == "Successful"


def test_percentage_complete_waits_for_the_new_instances_to_warm_up(world):
    """User guide (instance refresh, how it works): "it waits until the instances pass
    your health checks and complete warmup before it moves on to replacing other
    instances"; checkpoints page: "the overall percentage complete doesn't display the
    latest status until after the instances finish warming up". InstanceWarmup defaults
    to "the HealthCheckGracePeriod property" (API_RefreshPreferences); the local group's
    is 60 s, taken at face value here (time_scale 1).
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-adding-checkpoints-instance-refresh.html
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html"""
    world.emulator.configure(time_scale=1)
    asg = world.client("autoscaling")
    asg.start_instance_refresh(
        AutoScalingGroupName=GROUP,
        DesiredConfiguration=_desired_version(world),
        Preferences={"MinHealthyPercentage": 50},
    )
    seen = []
    for _ in range(6):
        item = asg.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"][0]
        new = sum(i["LaunchTemplate"]["Version"] == "2" for i in world.group()["Instances"])
        seen.append((item["Status"], item["PercentageComplete"], new, item.get("StatusReason")))
    assert seen[-1] == ("InProgress", 0, 1, "Waiting for the new instances to warm up."), seen
    assert all(new <= 1 for _, _, new, _ in seen), "no second batch before the first warmed up"


def test_a_failed_launch_first_batch_rolls_back_to_the_desired_capacity(world):
    """AutoRollback puts the group back on its previous configuration (API_StartInstanceRefresh);
    the new instances launched above the desired capacity go first (the emulator's
    assumption: AWS documents no detail) and the group ends at its desired size."""
    ami = register_ami(world.client("ec2"), "app", "6.6.6")
    world.emulator.set_health(image_id=ami, state="unhealthy")
    template_id = world.template()["LaunchTemplateId"]
    world.client("ec2").create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"ImageId": ami}
    )
    asg = world.client("autoscaling")
    asg.start_instance_refresh(
        AutoScalingGroupName=GROUP,
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template_id, "Version": "2"}},
        Preferences={
            "MinHealthyPercentage": 100,
            "MaxHealthyPercentage": 150,
            "AutoRollback": True,
        },
    )
    for _ in range(20):
        item = asg.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"][0]
        if item["Status"] == "RollbackSuccessful":
            break
    assert item["Status"] == "RollbackSuccessful", item
    instances = world.group()["Instances"]
    assert len(instances) == 2 and {i["LaunchTemplate"]["Version"] for i in instances} == {"1"}


@pytest.mark.parametrize("checkpoints", [(), (20, 50, 100), (50, 100), (10, 40, 100)])
def test_goldens_preview_agrees_with_the_documented_model(checkpoints):
    """golden's `--dry-run` batches (autoscaling/batches.py) against the emulator's model
    of the documentation, for the preferences golden sends (MaxHealthyPercentage always
    explicit, checkpoints ending at 100)."""
    for desired, low, high in itertools.product(
        range(1, 13), (0, 50, 80, 90, 100), (100, 110, 150, 200)
    ):
        if high - low > 100 or (low == 100 and high == 100):
            continue
        documented = refresh_batches.plan(desired, desired, low, high, checkpoints)
        preview = golden_batches.batches(desired, desired, low, high, checkpoints)
        assert preview == [b.size for b in documented], (desired, low, high, checkpoints)
