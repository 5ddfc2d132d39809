"""Pure decisions of the release engine, with literal inputs (no AWS, no emulator)."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from golden.core import tags as T
from golden.core.errors import ConfigError, OperationFailed, PreflightError

from autoscaling import batches, envplan, images, knowngood, preflight, refresh, templates
from autoscaling.release import _reusable_version, verification_problems
from autoscaling.settings import ENV_DIR, load

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def image(
    ami="ami-0123456789abcdef0",
    role="app",
    tested="true",
    state="available",
    built="2026-11-20T10:00:00Z",
    **extra,
):
    tags = [
        {"Key": T.ROLE, "Value": role},
        {"Key": T.TESTED, "Value": tested},
        {"Key": T.BUILD_TIME, "Value": built},
    ]
    return {"ImageId": ami, "State": state, "Tags": tags, **extra}


# -- batches ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "desired,min_h,max_h,size",
    [
        (10, 90, 100, 1),
        (4, 50, 100, 2),
        (2, 50, 100, 1),
        (2, 100, 150, 1),
        (4, 100, 125, 1),
        (1, 0, 100, 1),
        (1, 100, 200, 1),
        (4, 0, 100, 4),
        (3, 90, 100, 1),
        (0, 90, 100, 0),
    ],
)
def test_batch_size_follows_min_and_max_healthy(desired, min_h, max_h, size):
    assert batches.batch_size(desired, min_h, max_h) == size


def test_batches_cover_every_instance():
    assert batches.batches(5, 5, 50, 100) == [2, 2, 1]
    assert batches.batches(2, 0, 50, 100) == []


# -- polling ----------------------------------------------------------------------------------
def test_poll_interval_grows_while_nothing_changes_and_resets_on_change():
    timing = refresh.Timing(min_interval=2, max_interval=10, factor=2)
    assert refresh.next_interval(2, False, timing) == 4
    assert refresh.next_interval(8, False, timing) == 10
    assert refresh.next_interval(10, False, timing) == 10
    assert refresh.next_interval(10, True, timing) == 2


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_returns_the_terminal_refresh_and_reports_each_change():
    states = iter(
        [
            {"Status": "Pending"},
            {"Status": "InProgress", "PercentageComplete": 0},
            {"Status": "InProgress", "PercentageComplete": 0},
            {"Status": "InProgress", "PercentageComplete": 50},
            {"Status": "Successful", "PercentageComplete": 100},
        ]
    )
    clock = FakeClock()
    seen = []
    timing = refresh.Timing(
        min_interval=1, max_interval=8, factor=2, timeout=100, sleep=clock.sleep, clock=clock.clock
    )
    final = refresh.wait(lambda: next(states), timing, seen.append)
    assert final["Status"] == "Successful"
    assert [s["Status"] for s in seen] == ["Pending", "InProgress", "InProgress", "Successful"]
    assert clock.sleeps == [1, 1, 2, 1]


def test_wait_gives_up_at_the_deadline_with_advice():
    clock = FakeClock()
    timing = refresh.Timing(
        min_interval=1, max_interval=5, timeout=30, sleep=clock.sleep, clock=clock.clock
    )
    with pytest.raises(OperationFailed, match="still InProgress.*run the same release again"):
        refresh.wait(lambda: {"Status": "InProgress", "InstanceRefreshId": "r-1"}, timing)
    assert clock.now <= 30 and len(clock.sleeps) < 30


# -- the StartInstanceRefresh request ---------------------------------------------------------
def test_start_request_names_the_version_only_in_desired_configuration():
    role = load("staging").role("app")
    request = refresh.start_request(role, "lt-1", 7)
    assert request["DesiredConfiguration"] == {
        "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "7"}
    }
    prefs = request["Preferences"]
    assert prefs["AutoRollback"] is True and prefs["SkipMatching"] is True
    assert prefs["CheckpointPercentages"] == [50, 100], "a last checkpoint of 100 is added"
    assert prefs["MinHealthyPercentage"] == 100 and prefs["MaxHealthyPercentage"] == 150
    assert prefs["AlarmSpecification"]["Alarms"] == [
        "golden-staging-app-5xx",
        "golden-staging-app-p95-latency",
    ]
    assert "LaunchTemplate" not in {k for k in request if k != "DesiredConfiguration"}


def test_chroma_request_terminates_before_launching():
    prefs = refresh.start_request(load("prod").role("chroma"), "lt-2", 3)["Preferences"]
    assert prefs["MinHealthyPercentage"] == 0 and prefs["MaxHealthyPercentage"] == 100
    assert "CheckpointPercentages" not in prefs


# -- images -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "img,expected",
    [
        (None, "not found in region us-east-1"),
        (image(state="pending"), "state 'pending', expected 'available'"),
        (image(role="chroma"), "golden:role=chroma, expected app"),
        (image(tested="false"), "in-bake tests did not pass"),
        ({"ImageId": "ami-0123456789abcdef0", "State": "available", "Tags": []}, "no golden:role"),
        (image(DeprecationTime="2026-01-01T00:00:00.000Z"), "deprecated since"),
    ],
)
def test_image_problems(img, expected):
    problems = images.image_problems(img, "ami-0123456789abcdef0", "app", "us-east-1", NOW)
    assert any(expected in p for p in problems), problems


def test_an_image_deprecated_in_the_future_is_fine():
    future = image(DeprecationTime="2030-01-01T00:00:00.000Z")
    assert images.image_problems(future, future["ImageId"], "app", "us-east-1", NOW) == []


def test_pick_latest_skips_untested_and_other_roles():
    imgs = [
        image("ami-00000001", built="2026-11-01T00:00:00Z"),
        image("ami-00000002", built="2026-11-03T00:00:00Z"),
        image("ami-00000003", built="2026-11-05T00:00:00Z", tested="false"),
        image("ami-00000004", built="2026-11-06T00:00:00Z", role="chroma"),
    ]
    assert images.pick_latest(imgs, "app", "us-east-1", NOW)["ImageId"] == "ami-00000002"
    assert images.pick_latest([], "app", "us-east-1", NOW) is None


def test_prune_plan_keeps_newest_and_everything_in_use():
    imgs = [image(f"ami-0000000{n}", built=f"2026-11-0{n}T00:00:00Z") for n in range(1, 7)]
    kept, removed = images.prune_plan(imgs, in_use={"ami-00000001", "ami-00000003"}, keep=2)
    assert [i["ImageId"] for i in kept] == [
        "ami-00000006",
        "ami-00000005",
        "ami-00000003",
        "ami-00000001",
    ]
    assert [i["ImageId"] for i in removed] == ["ami-00000004", "ami-00000002"]
    kept, removed = images.prune_plan(imgs, in_use=set(), keep=0)
    assert kept == [] and len(removed) == 6


def test_prune_plan_counts_only_available_images_toward_keep():
    imgs = [image(f"ami-0000000{n}", built=f"2026-11-0{n}T00:00:00Z") for n in range(1, 5)]
    imgs[3]["State"] = "disabled"  # the newest, retired by an earlier prune
    imgs[2]["State"] = "failed"
    kept, removed = images.prune_plan(imgs, in_use=set(), keep=2)
    assert [i["ImageId"] for i in kept] == ["ami-00000002", "ami-00000001"]
    assert [i["ImageId"] for i in removed] == ["ami-00000004", "ami-00000003"]


# -- known-good history -----------------------------------------------------------------------
def test_known_good_history():
    assert knowngood.parse("1 3 x 4") == [1, 3, 4]
    assert knowngood.after_success([1, 3], 3) == [1, 3]
    assert knowngood.after_success([1, 3], 5) == [1, 3, 5]
    assert knowngood.previous_good([1, 3, 5], 5) == 3
    assert knowngood.previous_good([1, 3, 5], 7) == 5
    assert knowngood.previous_good([5], 5) is None
    assert knowngood.after_rollback([1, 3, 5], bad=5, good=3) == [1, 3]
    assert len(knowngood.render(list(range(100))).split()) == knowngood.KEEP


# -- pre-flight -------------------------------------------------------------------------------
def inputs(**changes) -> preflight.ReleaseInputs:
    base = dict(
        env="staging",
        role="app",
        region="us-east-1",
        ami_id="ami-0123456789abcdef0",
        template_name="golden-staging-app",
        group_name="golden-staging-app",
        image=image(),
        template={"LaunchTemplateId": "lt-1"},
        group={
            "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "4"},
            "DesiredCapacity": 2,
        },
        group_version={
            "LaunchTemplateData": {
                "MetadataOptions": {"HttpTokens": "required"},
                "BlockDeviceMappings": [
                    {"DeviceName": "/dev/sda1", "Ebs": {"Encrypted": True, "VolumeType": "gp3"}}
                ],
            }
        },
    )
    base.update(changes)
    return preflight.ReleaseInputs(**base)


def test_preflight_passes_and_starts():
    assert preflight.decide(inputs(), NOW).action == "start"


@pytest.mark.parametrize(
    "changes,expected",
    [
        ({"template": None}, "launch template golden-staging-app does not exist"),
        ({"group": None}, "group golden-staging-app does not exist"),
        (
            {"group": {"LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "$Latest"}}},
            "version $Latest",
        ),
        ({"group": {"LaunchConfigurationName": "old"}}, "does not use a launch template"),
        ({"group_version": None}, "which does not exist"),
        (
            {
                "group_version": {
                    "LaunchTemplateData": {"MetadataOptions": {"HttpTokens": "optional"}}
                }
            },
            "IMDSv2",
        ),
        ({"image": image(tested="false")}, "in-bake tests did not pass"),
    ],
)
def test_preflight_refusals(changes, expected):
    with pytest.raises(PreflightError) as err:
        preflight.decide(inputs(**changes), NOW)
    assert expected in str(err.value) and "nothing was changed" in str(err.value)


def test_preflight_attaches_to_the_same_release_and_refuses_another():
    active = {
        "InstanceRefreshId": "r-1",
        "Status": "InProgress",
        "DesiredConfiguration": {"LaunchTemplate": {"Version": "5"}},
    }
    expected = {"ImageId": "ami-0123456789abcdef0", "UserData": "dXNlcg=="}
    same = preflight.decide(inputs(active=active, active_data=expected, expected=expected), NOW)
    assert (same.action, same.refresh_id, same.desired_version) == ("attach", "r-1", 5)
    other = {**expected, "ImageId": "ami-0fffffffffffffff0"}
    with pytest.raises(PreflightError, match="r-1 is InProgress.*only one release at a time"):
        preflight.decide(inputs(active=active, active_data=other, expected=expected), NOW)


def test_active_refresh_picks_only_active_statuses():
    items = [
        {"InstanceRefreshId": "a", "Status": "Successful"},
        {"InstanceRefreshId": "b", "Status": "Baking"},
    ]
    assert preflight.active_refresh(items)["InstanceRefreshId"] == "b"
    assert preflight.active_refresh(items[:1]) is None


# -- verification after success ---------------------------------------------------------------
def row(
    iid="i-1",
    ami="ami-new",
    version="5",
    health="Healthy",
    targets=("healthy",),
    lifecycle="InService",
):
    return {
        "instance_id": iid,
        "ami": ami,
        "launch_template_version": version,
        "health": health,
        "targets": list(targets),
        "lifecycle": lifecycle,
    }


def test_verification_problems():
    assert verification_problems([row(), row("i-2")], "ami-new", 5, True) == []
    problems = verification_problems(
        [
            row(ami="ami-old"),
            row("i-2", version="4"),
            row("i-3", targets=("unhealthy",)),
            row("i-4", lifecycle="Terminating", ami="ami-old"),
        ],
        "ami-new",
        5,
        True,
    )
    assert len(problems) == 3
    assert verification_problems([], "ami-new", 5, True) == ["no InService instances"]
    assert verification_problems([row(targets=())], "ami-new", 5, False) == []


def test_a_version_left_by_an_interrupted_run_is_reused_only_if_identical():
    expected = {"ImageId": "ami-new", "UserData": "dXNlcg==", "InstanceType": "t3.micro"}
    versions = [
        {"VersionNumber": 4, "LaunchTemplateData": {**expected, "ImageId": "ami-old"}},
        {"VersionNumber": 5, "LaunchTemplateData": dict(expected)},
    ]
    assert _reusable_version(versions, 4, expected) == 5
    assert _reusable_version(versions, 5, expected) is None
    changed = {**expected, "InstanceType": "t3.large"}
    assert _reusable_version(versions, 4, changed) is None


# -- launch-template data ---------------------------------------------------------------------
def test_desired_template_data_is_secure_by_default():
    env = load("staging")
    data = templates.desired_data(env, env.role("app"), ["sg-2", "sg-1"])
    assert templates.security_problems(data) == []
    assert data["SecurityGroupIds"] == ["sg-1", "sg-2"]
    assert data["IamInstanceProfile"] == {"Name": "golden-staging-app"}
    assert "ImageId" not in data


def test_differences_ignore_order_and_foreign_tag_specs():
    env = load("staging")
    data = templates.desired_data(env, env.role("app"), ["sg-1"])
    shuffled = copy.deepcopy(data)
    shuffled["TagSpecifications"].reverse()
    shuffled["TagSpecifications"].append({"ResourceType": "launch-template", "Tags": []})
    assert templates.differences(shuffled, data) == {}
    shuffled["InstanceType"] = "m5.large"
    assert set(templates.differences(shuffled, data)) == {"InstanceType"}


# -- env plan ---------------------------------------------------------------------------------
def _role_state(env, **group_changes):
    role = env.role("app")
    data = templates.desired_data(env, role, ["sg-1"])
    desired = envplan.Desired(data, ["subnet-a", "subnet-b"], ["arn:tg"])
    group = {
        "LaunchTemplate": {"LaunchTemplateName": role.template, "Version": "3"},
        "MinSize": 2,
        "MaxSize": 6,
        "DesiredCapacity": 3,
        "HealthCheckType": "ELB",
        "HealthCheckGracePeriod": 300,
        "VPCZoneIdentifier": "subnet-b,subnet-a",
        "TargetGroupARNs": ["arn:tg"],
        "Tags": [
            {"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in env.tags("app").items()
        ],
    }
    group.update(group_changes)
    policy = envplan._policy_params(role)
    current = envplan.Current(
        template={"LaunchTemplateId": "lt-1"},
        group=group,
        version={"VersionNumber": 3, "LaunchTemplateData": {**data, "ImageId": "ami-1"}},
        policies=[policy],
        bootstrap_ami=None,
    )
    return role, desired, current


def test_plan_is_empty_when_aws_matches():
    env = load("staging")
    role, desired, current = _role_state(env)
    assert envplan.plan_role(env, role, desired, current).steps == []


def test_plan_pins_version_and_fixes_capacity_without_fighting_the_scaling_policy():
    env = load("staging")
    role, desired, current = _role_state(
        env,
        MinSize=1,
        DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateName": "golden-staging-app", "Version": "$Default"},
    )
    (step,) = envplan.plan_role(env, role, desired, current).steps
    assert step.op == "update_group"
    assert step.params["LaunchTemplate"]["Version"] == "3"
    assert step.params["MinSize"] == 2 and step.params["DesiredCapacity"] == 2
    role, desired, current = _role_state(env, DesiredCapacity=5)
    assert envplan.plan_role(env, role, desired, current).steps == [], (
        "a desired capacity inside min..max belongs to the scaling policy"
    )


def test_plan_for_a_new_environment_creates_template_then_group():
    env = load("staging")
    role, desired, _ = _role_state(env)
    current = envplan.Current(None, None, None, [], bootstrap_ami="ami-9")
    steps = envplan.plan_role(env, role, desired, current).steps
    assert [s.op for s in steps] == ["create_template", "create_group", "put_policy"]
    assert steps[0].params["LaunchTemplateData"]["ImageId"] == "ami-9"
    assert steps[1].params["LaunchTemplate"]["Version"] == envplan.NEW_VERSION


# -- settings validation ----------------------------------------------------------------------
def _settings_with(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((ENV_DIR / "staging.yaml").read_text())
    mutate(data)
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d["roles"]["app"].pop("launch_template"), "roles.app.launch_template: missing"),
        (lambda d: d["roles"]["app"]["capacity"].update(min=5), "min <= desired <= max"),
        (
            lambda d: d["roles"]["app"]["refresh"].update(min_healthy_percentage=120),
            "min_healthy_percentage: expected a value from 0 to 100",
        ),
        (
            lambda d: d["roles"]["app"]["refresh"].update(checkpoint_percentages=[50, 20]),
            "ascending",
        ),
        (lambda d: d["roles"]["chroma"]["capacity"].update(max=2, desired=2), "capacity.max"),
        (
            lambda d: d["roles"]["chroma"]["refresh"].update(min_healthy_percentage=50),
            "terminate, then launch",
        ),
        (lambda d: d["roles"]["app"].update(colour="blue"), "roles.app.colour: unknown key"),
        (
            lambda d: d["roles"]["app"]["scaling_policy"].update(metric="alb_request_count"),
            "resource_label",
        ),
        (lambda d: d.update(region="mars"), "region: expected an AWS region"),
        (lambda d: d["instance"]["redis"].update(port="6379"), "redis.port"),
    ],
)
def test_settings_errors_name_file_and_key(tmp_path, mutate, message):
    path = _settings_with(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load(str(path))
    assert str(path) in str(err.value) and message in str(err.value)


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known environments: local, prod, staging"):
        load("qa")
