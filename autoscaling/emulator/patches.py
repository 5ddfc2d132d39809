"""Changes to moto, applied in the emulator's own process by :func:`install`.

Each patch fixes one behaviour the release engine meets on AWS and moto 5.2 gets wrong, or
adds an action moto lacks. They are plain attribute assignments on moto's classes, made
once; :func:`install` is idempotent.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling import models as asg_models
from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.elbv2 import models as elbv2_models

from autoscaling.emulator import (
    canonical_images,
    cfn_resources,
    health,
    image_lifecycle,
    instance_refresh,
    lifecycle,
    ssm_api,
    stacks,
)
from autoscaling.emulator.group_instances import (
    launch_instances,
    terminate_group_instances,
    user_data,
)

_installed = False


# -- group launches --------------------------------------------------------------------------
_original_replace = asg_models.FakeAutoScalingGroup.replace_autoscaling_group_instances


def _replace_autoscaling_group_instances(self, count_needed: int, propagated_tags: dict) -> None:
    if self.ec2_launch_template is None:
        return _original_replace(self, count_needed, propagated_tags)
    version = self.ec2_launch_template.get_version(self.launch_template_version)
    launch_instances(self, count_needed, self.ec2_launch_template, version.number)


_original_set_desired_capacity = asg_models.FakeAutoScalingGroup.set_desired_capacity


def scale_in_order(states: list, current_version: int | None) -> list:
    """Which instances a scale-in removes first, after the default termination policy
    (Auto Scaling User Guide, "Configure termination policies": instances not protected
    from scale in; those on an older launch-template version than the group's first, then
    the oldest launched). Zone balancing is left out: the emulator's groups are small."""
    candidates = [s for s in states if not s.protected_from_scale_in]
    return sorted(
        candidates,
        key=lambda s: (
            getattr(s, "golden_launch_version", None) == current_version,
            getattr(s.instance, "launch_time", ""),
        ),
    )


def _set_desired_capacity(self, new_capacity: int | None) -> None:
    # moto's scale-in terminates instances without deregistering them from the group's
    # target groups (they stay "healthy" forever); ours drains them first.
    if self.ec2_launch_template is None:
        return _original_set_desired_capacity(self, new_capacity)
    self.desired_capacity = self.min_size if new_capacity is None else new_capacity
    delta = (self.desired_capacity or 0) - len(self.active_instances())
    if delta > 0:
        self.replace_autoscaling_group_instances(delta, self.get_propagated_tags())
    elif delta < 0:
        version = self.ec2_launch_template.get_version(self.launch_template_version).number
        doomed = scale_in_order(self.instance_states, version)[: -delta]
        terminate_group_instances(
            self.autoscaling_backend, self, [s.instance.id for s in doomed]
        )
    if self.name in self.autoscaling_backend.autoscaling_groups:
        self.autoscaling_backend.update_attached_elbs(self.name)
        self.autoscaling_backend.update_attached_target_groups(self.name)


def _instance_launch_template(self) -> dict[str, Any] | None:
    group = self.auto_scaling_group
    if group is None or group.ec2_launch_template is None:
        return None
    version = getattr(self, "golden_launch_version", None)
    if version is None:
        version = group.ec2_launch_template.default_version_number
    return {
        "LaunchTemplateId": group.ec2_launch_template.id,
        "LaunchTemplateName": group.ec2_launch_template.name,
        "Version": str(version),
    }


# -- launch templates -------------------------------------------------------------------------
def _create_launch_template_version(self) -> ActionResult:
    """CreateLaunchTemplateVersion with SourceVersion: the new version inherits every
    top-level launch parameter of the source version that LaunchTemplateData does not set."""
    name = self._get_param("LaunchTemplateName")
    tmpl_id = self._get_param("LaunchTemplateId")
    template = (
        self.ec2_backend.get_launch_template(tmpl_id)
        if tmpl_id
        else self.ec2_backend.get_launch_template_by_name(name)
    )
    description = self._get_param("VersionDescription")
    data = self._get_param("LaunchTemplateData", {}) or {}
    source = self._get_param("SourceVersion")
    if source is not None:
        merged = dict(template.get_version(source).data)
        merged.update(data)
        data = merged
    if "UserData" in data:
        data["UserData"] = user_data(data)
    self.error_on_dryrun()
    version = template.create_version(data, description)
    return ActionResult(
        {
            "LaunchTemplateVersion": {
                "CreateTime": version.create_time,
                "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                "DefaultVersion": template.is_default(version),
                "LaunchTemplateData": version.data,
                "LaunchTemplateId": template.id,
                "LaunchTemplateName": template.name,
                "VersionDescription": version.description,
                "VersionNumber": version.number,
            }
        }
    )


# -- images -----------------------------------------------------------------------------------
def _enable_image_deprecation(self) -> ActionResult:
    ami = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
    self.error_on_dryrun()
    when = self._get_param("DeprecateAt")
    ami.deprecation_time = (
        when if isinstance(when, str) else when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    )
    return ActionResult({"Return": True})


def _disable_image_deprecation(self) -> ActionResult:
    ami = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
    self.error_on_dryrun()
    ami.deprecation_time = None
    return ActionResult({"Return": True})


_original_load_amis = AmiBackend._load_amis


def _load_amis(self) -> None:
    """moto's default images plus Canonical's Ubuntu 22.04 ones (canonical_images.py)."""
    _original_load_amis(self)
    for image in canonical_images.catalogue(self.region_name):
        self.amis[image["ami_id"]] = Ami(self, **image)


# -- target health ----------------------------------------------------------------------------
_original_health_for = elbv2_models.FakeTargetGroup.health_for


def _health_for(self, target: dict, ec2_backend) -> elbv2_models.FakeHealthStatus:
    status = _original_health_for(self, target, ec2_backend)
    if status.status != "healthy" or not str(target["Id"]).startswith("i-"):
        return status
    checked = lifecycle.target_health(self, target["Id"])
    if checked is not None:
        # A runtime that checks health for real (the rehearsal's load balancer) decides.
        return elbv2_models.FakeHealthStatus(
            target["Id"],
            status.port,
            self.health_check_port,
            checked["State"],
            checked.get("Reason"),
            checked.get("Description"),
        )
    instance = ec2_backend.get_instance_by_id(target["Id"])
    if instance is not None and instance.state != "running":
        return elbv2_models.FakeHealthStatus(
            target["Id"],
            status.port,
            self.health_check_port,
            "draining",
            "Target.DeregistrationInProgress",
            "Target deregistration is in progress",
        )
    image = instance.image_id if instance else None
    if health.verdict(target["Id"], image) == health.UNHEALTHY:
        return elbv2_models.FakeHealthStatus(
            target["Id"],
            status.port,
            self.health_check_port,
            "unhealthy",
            "Target.FailedHealthChecks",
            "Health checks failed",
        )
    return status


_original_register = elbv2_models.FakeTargetGroup.register
_original_deregister = elbv2_models.FakeTargetGroup.deregister


def _register_targets(self, targets: list[dict]) -> None:
    # Auto Scaling re-registers every instance of the group on each change: only the
    # targets that are new to the group reach the runtime.
    new = [t for t in targets if t["Id"] not in self.targets]
    _original_register(self, targets)
    for target in new:
        if str(target["Id"]).startswith("i-"):
            lifecycle.target_registered(self, target["Id"], int(target.get("Port", self.port)))


def _deregister_targets(self, targets: list[dict]) -> None:
    _original_deregister(self, targets)
    for target in targets:
        lifecycle.target_deregistered(self, target["Id"])


# -- Auto Scaling actions ---------------------------------------------------------------------
def _start_instance_refresh(self) -> ActionResult:
    refresh_id = instance_refresh.start(
        self.autoscaling_backend,
        self._get_param("AutoScalingGroupName"),
        self._get_param("Strategy"),
        self._get_param("Preferences"),
        self._get_param("DesiredConfiguration"),
    )
    return ActionResult({"InstanceRefreshId": refresh_id})


def _describe_instance_refreshes(self) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    if not name:
        raise ValidationError("AutoScalingGroupName is required.")
    items = instance_refresh.describe(
        self.autoscaling_backend, name, self._get_param("InstanceRefreshIds", [])
    )
    max_records = self._get_int_param("MaxRecords", 50)
    token = self._get_param("NextToken")
    start = int(token) if token else 0
    page = items[start : start + max_records]
    result: dict[str, Any] = {"InstanceRefreshes": page}
    if len(items) > start + max_records:
        result["NextToken"] = str(start + max_records)
    return ActionResult(result)


def _cancel_instance_refresh(self) -> ActionResult:
    refresh_id = instance_refresh.cancel(
        self.autoscaling_backend, self._get_param("AutoScalingGroupName")
    )
    return ActionResult({"InstanceRefreshId": refresh_id})


def _rollback_instance_refresh(self) -> ActionResult:
    refresh_id = instance_refresh.rollback(
        self.autoscaling_backend, self._get_param("AutoScalingGroupName")
    )
    return ActionResult({"InstanceRefreshId": refresh_id})


_original_put_scaling_policy = AutoScalingResponse.put_scaling_policy


def _put_scaling_policy(self) -> ActionResult:
    # AWS names the field PolicyARN; moto answers PolicyArn, which boto3 drops.
    result = _original_put_scaling_policy(self)
    arn = result.result.get("PolicyArn") if isinstance(result.result, dict) else None
    return ActionResult({"PolicyARN": arn, "Alarms": []})


def _sync_health(backend) -> None:
    # An instance Auto Scaling found unhealthy stays so (it would replace it; the emulator
    # does not model that replacement).
    for group in backend.autoscaling_groups.values():
        for state in group.instance_states:
            if health.instance_health(backend, group, state) == health.UNHEALTHY:
                state.health_status = "Unhealthy"


_original_describe_groups = AutoScalingResponse.describe_auto_scaling_groups
_original_describe_instances = AutoScalingResponse.describe_auto_scaling_instances


def _describe_auto_scaling_groups(self) -> ActionResult:
    _sync_health(self.autoscaling_backend)
    return _original_describe_groups(self)


def _describe_auto_scaling_instances(self) -> ActionResult:
    _sync_health(self.autoscaling_backend)
    return _original_describe_instances(self)


# -- instances launched from a launch template outside any group ---------------------------
# RunInstances with LaunchTemplate (a one-off task's instance, such as a release's
# migration) boots a machine from the template version's user data, as a group launch
# does: the runtime is told (lifecycle.launched), and TerminateInstances of such an
# instance tells it too. A RunInstances without a launch template (a Packer builder's
# instance) stays a record, as before.
_original_run_instances = InstanceResponse.run_instances
_original_terminate_instances = InstanceResponse.terminate_instances
_standalone: set[str] = set()


def _run_instances(self) -> ActionResult:
    template_arg = self._get_param("LaunchTemplate", {}) or {}
    before = {i.id for r in self.ec2_backend.all_reservations() for i in r.instances}
    result = _original_run_instances(self)
    if template_arg:
        version = self.ec2_backend._get_template_from_args(template_arg)
        for reservation in self.ec2_backend.all_reservations():
            for instance in reservation.instances:
                if instance.id not in before:
                    _standalone.add(instance.id)
                    lifecycle.launched(
                        self.ec2_backend, instance, version.data, None, version.number
                    )
    return result


def _terminate_instances(self) -> ActionResult:
    ids = self._get_param("InstanceIds", []) or []
    result = _original_terminate_instances(self)
    for instance_id in ids:
        if instance_id in _standalone:
            _standalone.discard(instance_id)
            lifecycle.terminated(instance_id, 0.0)
    return result


def _template_tags(self) -> list[dict]:
    # moto snapshots a launch template's tags at creation; CreateTags later was invisible.
    return [{"Key": t["key"], "Value": t["value"]} for t in self.get_tags()]


def install() -> None:
    global _installed
    if _installed:
        return
    asg_models.FakeAutoScalingGroup.replace_autoscaling_group_instances = (
        _replace_autoscaling_group_instances
    )
    asg_models.FakeAutoScalingGroup.set_desired_capacity = _set_desired_capacity
    asg_models.InstanceState.launch_template = property(_instance_launch_template)
    LaunchTemplates.create_launch_template_version = _create_launch_template_version
    LaunchTemplate.tags = property(_template_tags, lambda self, value: None)
    InstanceResponse.run_instances = _run_instances
    InstanceResponse.terminate_instances = _terminate_instances
    AmiBackend._load_amis = _load_amis
    AmisResponse.enable_image_deprecation = _enable_image_deprecation
    AmisResponse.disable_image_deprecation = _disable_image_deprecation
    # IncludeDisabled, deregistration protection (emulator/image_lifecycle.py).
    image_lifecycle.install()
    elbv2_models.FakeTargetGroup.health_for = _health_for
    elbv2_models.FakeTargetGroup.register = _register_targets
    elbv2_models.FakeTargetGroup.deregister = _deregister_targets
    AutoScalingResponse.start_instance_refresh = _start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = _describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = _cancel_instance_refresh
    AutoScalingResponse.rollback_instance_refresh = _rollback_instance_refresh
    AutoScalingResponse.put_scaling_policy = _put_scaling_policy
    AutoScalingResponse.describe_auto_scaling_groups = _describe_auto_scaling_groups
    AutoScalingResponse.describe_auto_scaling_instances = _describe_auto_scaling_instances
    # SSM Run Command: targets, rate control, per-instance outcomes (emulator/run_command.py).
    ssm_api.install()
    # CloudFormation: change sets, events, rollback, deletion policies (emulator/stacks.py)
    # and the resource types moto lacks (emulator/cfn_resources.py).
    cfn_resources.install()
    stacks.install()
    _installed = True


__all__ = ["install"]
