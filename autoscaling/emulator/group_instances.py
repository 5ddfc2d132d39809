"""Launching and terminating an Auto Scaling group's instances from one explicit
launch-template version (what scale-out, instance refresh and rollback share)."""

from __future__ import annotations

import random
import time

from moto.autoscaling import models as asg_models
from moto.ec2.utils import parse_user_data

from autoscaling.emulator import health, lifecycle


def launch_instances(group, count: int, template, version_number: int) -> list[str]:
    """Launch ``count`` instances into ``group`` from one explicit launch-template version.

    Unlike moto's own launch path this takes ImageId, UserData, block devices, security
    groups and tags from that version (moto takes several of them from $Default), spreads
    instances over the group's subnets, and remembers the version on the instance."""
    if count <= 0:
        return []
    backend = group.autoscaling_backend
    ec2 = backend.ec2_backend
    version = template.get_version(version_number)
    data = version.data
    tags = group.get_propagated_tags()
    tags[asg_models.ASG_NAME_TAG] = group.name
    tags.update(version.instance_tags)
    subnets = group.vpc_zone_identifier.split(",") if group.vpc_zone_identifier else [None]
    launched: list[str] = []
    for _ in range(count):
        # Like AWS, keep the zones balanced: launch into the least used subnet.
        used = [getattr(s.instance, "subnet_id", None) for s in group.instance_states]
        subnet_id = min(subnets, key=lambda s: (used.count(s), subnets.index(s)))
        zone = (
            ec2.get_subnet(subnet_id).availability_zone
            if subnet_id
            else random.choice(group.availability_zones)
        )
        reservation = ec2.run_instances(
            version.image_id,
            1,
            user_data(data),
            [],
            instance_type=data.get("InstanceType") or "t3.micro",
            tags={"instance": dict(tags)},
            placement=zone,
            launch_config=None,
            launch_template={"LaunchTemplateId": template.id, "Version": str(version.number)},
            is_instance_type_default=False,
            associate_public_ip=None,
            subnet_id=subnet_id,
        )
        for instance in reservation.instances:
            instance.autoscaling_group = group
            state = asg_models.InstanceState(
                instance, protected_from_scale_in=group.new_instances_protected_from_scale_in
            )
            state.golden_launch_version = version.number
            state.golden_launched_at = time.monotonic()
            if health.verdict(instance.id, instance.image_id) == health.UNHEALTHY:
                state.health_status = "Unhealthy"
            group.instance_states.append(state)
            launched.append(instance.id)
            lifecycle.launched(ec2, instance, data, group.name, version.number)
    if group.name in backend.autoscaling_groups:
        backend.update_attached_target_groups(group.name)
    return launched


def terminate_group_instances(backend, group, instance_ids: list[str]) -> None:
    """Like Auto Scaling: deregister the instances from the group's target groups (they
    drain for the deregistration delay), then terminate them."""
    if not instance_ids:
        return
    drain = dict.fromkeys(instance_ids, 0.0)
    for arn in group.target_group_arns or []:
        target_group = backend.elbv2_backend.target_groups.get(arn)
        for instance_id in instance_ids:
            if target_group is not None and instance_id in target_group.targets:
                delay = lifecycle.target_deregistered(target_group, instance_id)
                drain[instance_id] = max(drain[instance_id], delay)
    backend.ec2_backend.terminate_instances(instance_ids)
    group.instance_states = [s for s in group.instance_states if s.instance.id not in instance_ids]
    backend.elbv2_backend.notify_terminate_instances(instance_ids)
    for instance_id in instance_ids:
        lifecycle.terminated(instance_id, drain[instance_id])


def user_data(data: dict):
    value = data.get("UserData")
    if value is None or not isinstance(value, str):
        return value
    return parse_user_data(value)
