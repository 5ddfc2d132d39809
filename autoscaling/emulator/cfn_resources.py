"""CloudFormation resource types of moto 5.2 that the emulator fixes, and the registration
of the types moto lacks (emulator/cfn_models.py: CloudWatch alarms, ElastiCache subnet and
replication groups, bucket policies), each from the CloudFormation template reference.

Fixed for existing types (moto ignores these properties when it creates from a template):
- AWS::ElasticLoadBalancingV2::TargetGroup TargetGroupAttributes and
  AWS::ElasticLoadBalancingV2::LoadBalancer LoadBalancerAttributes are applied (so
  deregistration_delay.timeout_seconds and idle_timeout.timeout_seconds are what the
  template says), and a load balancer with deletion_protection.enabled refuses
  DeleteLoadBalancer (OperationNotPermitted), as the ELB API reference documents.
- AWS::RDS::DBInstance is created from the template reference's property names (moto
  reads VpcSecurityGroupIds, not VPCSecurityGroups, and defaults Port to 3306 whatever
  the engine); DeletionProtection and MaxAllocatedStorage are applied.
- GetAtt of a TargetGroup: TargetGroupFullName, TargetGroupName, TargetGroupArn,
  LoadBalancerArns (moto has none); of a LoadBalancer: LoadBalancerFullName and
  SecurityGroups (moto: not implemented).

Deleting (``delete``): moto's CloudFormation reports these types deleted and deletes
nothing; here they are deleted through their backend: EIP, InternetGateway, NatGateway,
Route, RouteTable, SubnetRouteTableAssociation, VPCEndpoint, VPCGatewayAttachment,
Volume, Listener, TargetGroup, ManagedPolicy. Ref of DBParameterGroup and DBSubnetGroup
gives their name (moto: the object).

In-place updates (``update_in_place``): a stack update that modifies one of these types
changes the modelled properties of the existing resource instead of moto's behaviour
(for RDS none: moto would drop the resource from the stack): DBInstance
(DeletionProtection, BackupRetentionPeriod, DBInstanceClass, AllocatedStorage,
MultiAZ), TargetGroup and LoadBalancer attributes, Alarm (put again),
ReplicationGroup (CacheNodeType, AutomaticFailoverEnabled, MultiAZEnabled,
SnapshotRetentionLimit), BucketPolicy (put again), LogGroup (RetentionInDays).

Bucket policies: moto applies a policy's statements ignoring their conditions, so the
usual TLS-only Deny (Bool aws:SecureTransport "false") would refuse every request; here
every request counts as made over TLS (golden's are, on AWS) and such a statement applies
to none.

Not modelled: which property changes need a replacement (an update is always in place
or moto's own), ElastiCache's AUTH token and transit encryption beyond storing them, an
alarm's evaluation of metric math (emulator/alarms.py evaluates simple metric alarms
only), bucket policy enforcement (moto ignores conditions).
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.exceptions import ServiceException
from moto.elbv2 import models as elbv2_models
from moto.s3.models import FakeBucket
from moto.utilities.utils import get_partition

from autoscaling.emulator import cfn_models
from autoscaling.emulator.cfn_models import as_bool as _bool


# -- RDS DB instance ------------------------------------------------------------------------------
def _create_db_instance(cls, resource_name, cloudformation_json, account_id, region_name,
                        **kwargs):  # fmt: skip
    """AWS::RDS::DBInstance with the template reference's property names (moto reads
    VpcSecurityGroupIds instead of VPCSecurityGroups and wants objects where Ref gives
    names) and its defaults (Port: the engine's, 5432 for postgres)."""
    from moto.rds.models import rds_backends

    p = cloudformation_json["Properties"]
    engine = p.get("Engine")
    default_port = {"postgres": 5432, "mysql": 3306, "mariadb": 3306}.get(engine)
    db_kwargs = {
        "auto_minor_version_upgrade": _bool(p.get("AutoMinorVersionUpgrade", True)),
        "allocated_storage": int(p["AllocatedStorage"]) if p.get("AllocatedStorage") else None,
        "availability_zone": p.get("AvailabilityZone"),
        "backup_retention_period": int(p.get("BackupRetentionPeriod", 1)),
        "db_instance_class": p.get("DBInstanceClass"),
        "db_instance_identifier": resource_name.lower(),
        "db_name": p.get("DBName"),
        "db_subnet_group_name": p.get("DBSubnetGroupName"),
        "engine": engine,
        "engine_version": p.get("EngineVersion"),
        "iops": p.get("Iops"),
        "kms_key_id": p.get("KmsKeyId"),
        "master_user_password": p.get("MasterUserPassword"),
        "master_username": p.get("MasterUsername"),
        "multi_az": _bool(p.get("MultiAZ", False)),
        "db_parameter_group_name": p.get("DBParameterGroupName"),
        "port": int(p.get("Port", default_port or 3306)),
        "publicly_accessible": _bool(p.get("PubliclyAccessible", False)),
        "copy_tags_to_snapshot": _bool(p.get("CopyTagsToSnapshot", False)),
        "storage_encrypted": _bool(p.get("StorageEncrypted", False)),
        "storage_type": p.get("StorageType"),
        "tags": p.get("Tags"),
        "vpc_security_group_ids": list(p.get("VPCSecurityGroups") or []),
        "deletion_protection": _bool(p.get("DeletionProtection", False)),
        "enable_cloudwatch_logs_exports": list(p.get("EnableCloudwatchLogsExports") or []),
    }
    return rds_backends[account_id][region_name].create_db_instance(db_kwargs)


_original_get_permission = FakeBucket.get_permission


def _only_plain_http(statement: dict) -> bool:
    condition = statement.get("Condition") or {}
    return condition == {"Bool": {"aws:SecureTransport": "false"}}


def _get_permission(self, action: str, resource: str) -> Any:
    """Bucket policies as moto evaluates them (it ignores conditions), except that every
    request counts as made over TLS, as golden's are on AWS (the emulator speaks HTTP on
    loopback): a statement that applies only to plain HTTP (the usual TLS-only Deny)
    applies to none. Without this, moto applies such a Deny to every request."""
    if self.policy is None:
        return _original_get_permission(self, action, resource)
    policy = json.loads(self.policy)
    statements = policy.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    kept = [st for st in statements if not _only_plain_http(st)]
    if len(kept) == len(statements):
        return _original_get_permission(self, action, resource)
    saved = self.policy
    try:
        self.policy = json.dumps({**policy, "Statement": kept}).encode()
        return _original_get_permission(self, action, resource)
    finally:
        self.policy = saved


# -- properties moto ignores on types it has ----------------------------------------------------
def _elbv2(account_id: str, region_name: str):
    return elbv2_models.elbv2_backends[account_id][region_name]


def _attributes(items: list[dict] | None) -> dict[str, str]:
    return {a["Key"]: str(a["Value"]).lower() if isinstance(a["Value"], bool) else str(a["Value"])
            for a in items or []}  # fmt: skip


def after_create(resource, resource_type: str, props: dict, account_id: str, region: str) -> None:
    """Apply the properties moto's create_from_cloudformation_json leaves out."""
    if resource_type == "AWS::ElasticLoadBalancingV2::TargetGroup":
        attrs = _attributes(props.get("TargetGroupAttributes"))
        if attrs:
            _elbv2(account_id, region).modify_target_group_attributes(resource.arn, attrs)
    elif resource_type == "AWS::ElasticLoadBalancingV2::LoadBalancer":
        attrs = _attributes(props.get("LoadBalancerAttributes"))
        if attrs:
            _elbv2(account_id, region).modify_load_balancer_attributes(resource.arn, attrs)
    elif resource_type == "AWS::RDS::DBInstance":
        resource.deletion_protection = _bool(props.get("DeletionProtection", False))
        if props.get("MaxAllocatedStorage") is not None:
            resource.max_allocated_storage = int(props["MaxAllocatedStorage"])


def update_in_place(original, resource_type: str, props: dict, account_id: str,
                    region: str) -> bool:  # fmt: skip
    """Change ORIGINAL (a resource the stack holds) to PROPS for the types and properties
    listed in this module's docstring; True when this module handled the update."""
    if resource_type == "AWS::RDS::DBInstance":
        original.deletion_protection = _bool(props.get("DeletionProtection", False))
        for attr, key, cast in (("backup_retention_period", "BackupRetentionPeriod", int),
                                ("db_instance_class", "DBInstanceClass", str),
                                ("allocated_storage", "AllocatedStorage", int),
                                ("multi_az", "MultiAZ", _bool)):  # fmt: skip
            if props.get(key) is not None:
                setattr(original, attr, cast(props[key]))
        return True
    if resource_type in ("AWS::ElasticLoadBalancingV2::TargetGroup",
                         "AWS::ElasticLoadBalancingV2::LoadBalancer"):  # fmt: skip
        after_create(original, resource_type, props, account_id, region)
        return True
    if resource_type == "AWS::Logs::LogGroup":
        from moto.logs.models import logs_backends

        logs = logs_backends[account_id][region]
        if props.get("RetentionInDays") is None:
            logs.delete_retention_policy(original.name)
        else:
            logs.put_retention_policy(original.name, int(props["RetentionInDays"]))
        return True
    return False


# -- deleting the types moto cannot delete from a stack ------------------------------------------
def _ec2(account_id: str, region: str):
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def _disassociate(resource, account_id: str, region: str) -> None:
    ec2 = _ec2(account_id, region)
    table = ec2.get_route_table(resource.route_table_id)
    for association_id, subnet_id in list(table._associations.items()):
        if subnet_id == resource.subnet_id:
            ec2.disassociate_route_table(association_id)


def _delete_managed_policy(resource, account_id: str, region: str) -> None:
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id][get_partition(region)]
    iam.delete_policy(resource.arn)


DELETERS = {
    "AWS::EC2::EIP": lambda r, a, g: _ec2(a, g).release_address(allocation_id=r.allocation_id),
    "AWS::EC2::InternetGateway": lambda r, a, g: _ec2(a, g).delete_internet_gateway(r.id),
    "AWS::EC2::NatGateway": lambda r, a, g: _ec2(a, g).delete_nat_gateway(r.id),
    "AWS::EC2::Route": lambda r, a, g: _ec2(a, g).delete_route(r.route_table.id,
                                                               r.destination_cidr_block),
    "AWS::EC2::RouteTable": lambda r, a, g: _ec2(a, g).delete_route_table(r.id),
    "AWS::EC2::SubnetRouteTableAssociation": _disassociate,
    "AWS::EC2::VPCEndpoint": lambda r, a, g: _ec2(a, g).delete_vpc_endpoints([r.id]),
    "AWS::EC2::VPCGatewayAttachment": lambda r, a, g: _ec2(a, g).detach_internet_gateway(
        r.gateway_id, r.vpc_id),
    "AWS::EC2::Volume": lambda r, a, g: _ec2(a, g).delete_volume(r.id),
    "AWS::ElasticLoadBalancingV2::Listener": lambda r, a, g: _elbv2(a, g).delete_listener(r.arn),
    "AWS::ElasticLoadBalancingV2::TargetGroup": lambda r, a, g: _elbv2(a, g).delete_target_group(
        r.arn),
    "AWS::IAM::ManagedPolicy": _delete_managed_policy,
}  # fmt: skip


def delete(resource, resource_type: str, account_id: str, region: str) -> bool:
    """Delete RESOURCE when it is of a type moto's CloudFormation cannot delete (moto's own
    path does nothing for them and reports success); True when this module deleted it."""
    deleter = DELETERS.get(resource_type)
    if deleter is None:
        return False
    deleter(resource, account_id, region)
    return True


class DeletionProtected(ServiceException):

    def __init__(self, arn: str):
        super().__init__(
            "OperationNotPermitted",
            f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
        )


_original_delete_load_balancer = elbv2_models.ELBv2Backend.delete_load_balancer


def _delete_load_balancer(self, arn: str) -> None:
    balancer = self.load_balancers.get(arn)
    if balancer is not None and balancer.attrs.get("deletion_protection.enabled") == "true":
        raise DeletionProtected(arn)
    _original_delete_load_balancer(self, arn)


def _target_group_attribute(self, attr: str) -> Any:
    # GetAtt of AWS::ElasticLoadBalancingV2::TargetGroup (template reference, return values).
    if attr == "TargetGroupFullName":
        return self.arn.split(":")[-1]
    if attr == "TargetGroupName":
        return self.name
    if attr == "TargetGroupArn":
        return self.arn
    if attr == "LoadBalancerArns":
        return list(self.load_balancer_arns)
    raise NotImplementedError(attr)


_original_load_balancer_attribute = elbv2_models.FakeLoadBalancer.get_cfn_attribute


def _load_balancer_attribute(self, attr: str) -> Any:
    # GetAtt of AWS::ElasticLoadBalancingV2::LoadBalancer: the full name is the ARN's part
    # after "loadbalancer/" (app/NAME/ID), as CloudWatch's LoadBalancer dimension takes it.
    if attr == "LoadBalancerFullName":
        return self.arn.split(":loadbalancer/", 1)[1]
    if attr == "SecurityGroups":
        return list(self.security_groups)
    return _original_load_balancer_attribute(self, attr)


def install() -> None:
    """Make moto's CloudFormation find the added types (its type map is cached) and refuse
    deleting a protected load balancer."""
    from moto.cloudformation import parsing

    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()
    missing = [m.cloudformation_type() for m in cfn_models.MODELS
               if m.cloudformation_type() not in parsing.get_model_map()]  # fmt: skip
    if missing:  # pragma: no cover - the classes above are subclasses by construction
        raise RuntimeError(f"CloudFormation models not registered: {missing}")
    elbv2_models.ELBv2Backend.delete_load_balancer = _delete_load_balancer
    elbv2_models.FakeTargetGroup.get_cfn_attribute = _target_group_attribute
    FakeBucket.get_permission = _get_permission
    elbv2_models.FakeLoadBalancer.get_cfn_attribute = _load_balancer_attribute
    # Ref of these returns their name (template reference); moto has no physical id for them.
    from moto.rds import models as rds_models

    rds_models.DBInstance.create_from_cloudformation_json = classmethod(_create_db_instance)
    rds_models.DBParameterGroup.physical_resource_id = property(lambda self: self.name)
    rds_models.DBSubnetGroup.physical_resource_id = property(lambda self: self.name)
