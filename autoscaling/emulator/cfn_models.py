"""CloudFormation resource types moto 5.2 lacks, for the emulator (moto's CloudFormation
creates a resource through the type's model class, a CloudFormationModel subclass found by
``cloudformation_type()``; for a type without one it warns and creates nothing). Each is
written from the type's CloudFormation template reference, over moto's own service
backends; emulator/cfn_resources.py registers them:

- AWS::CloudWatch::Alarm: PutMetricAlarm with the template's properties (metric alarms
  and metric-math alarms); Ref is the alarm name, GetAtt Arn.
- AWS::ElastiCache::SubnetGroup (Ref: the name) and AWS::ElastiCache::ReplicationGroup
  (Ref: the id; GetAtt PrimaryEndPoint.Address / .Port, ReaderEndPoint.Address / .Port).
- AWS::S3::BucketPolicy: PutBucketPolicy (Ref: the bucket name).

Not modelled: ElastiCache's AUTH token and transit encryption beyond storing them, an
alarm's evaluation of metric math (emulator/alarms.py evaluates simple metric alarms only).
"""

from __future__ import annotations

import json
from typing import Any

from moto.cloudwatch.models import (
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.core.common_models import CloudFormationModel
from moto.elasticache.models import elasticache_backends
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition


def as_bool(value: Any) -> bool:
    """A template's boolean (true, "true", "True") as a bool."""
    return str(value).lower() == "true"


_bool = as_bool


# -- CloudWatch alarms ------------------------------------------------------------------------
def _queries(metrics: list[dict] | None) -> list[MetricDataQuery] | None:
    if not metrics:
        return None
    out = []
    for item in metrics:
        stat = item.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat.get("Metric") or {}
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=metric.get("MetricName"),
                    namespace=metric.get("Namespace"),
                    dimensions=[
                        Dimension(name=d["Name"], value=d["Value"])
                        for d in metric.get("Dimensions") or []
                    ],
                ),
                period=stat.get("Period"),
                stat=stat.get("Stat"),
                unit=stat.get("Unit"),
            )
        out.append(
            MetricDataQuery(
                query_id=item.get("Id"),
                label=item.get("Label"),
                period=item.get("Period"),
                return_data=item.get("ReturnData"),
                expression=item.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return out


def _put_alarm(name: str, props: dict, account_id: str, region_name: str):
    backend = cloudwatch_backends[account_id][region_name]
    return backend.put_metric_alarm(
        name=name,
        namespace=props.get("Namespace"),
        metric_name=props.get("MetricName"),
        comparison_operator=props["ComparisonOperator"],
        evaluation_periods=int(props["EvaluationPeriods"]),
        period=int(props["Period"]) if props.get("Period") is not None else None,
        threshold=float(props["Threshold"]) if props.get("Threshold") is not None else None,
        statistic=props.get("Statistic"),
        description=props.get("AlarmDescription"),
        dimensions=[{"Name": d["Name"], "Value": d["Value"]}
                    for d in props.get("Dimensions") or []],
        alarm_actions=list(props.get("AlarmActions") or []),
        metric_data_queries=_queries(props.get("Metrics")),
        datapoints_to_alarm=(int(props["DatapointsToAlarm"])
                             if props.get("DatapointsToAlarm") is not None else None),
        extended_statistic=props.get("ExtendedStatistic"),
        ok_actions=list(props.get("OKActions") or []),
        insufficient_data_actions=list(props.get("InsufficientDataActions") or []),
        unit=props.get("Unit"),
        actions_enabled=_bool(props.get("ActionsEnabled", True)),
        treat_missing_data=props.get("TreatMissingData"),
        threshold_metric_id=props.get("ThresholdMetricId"),
    )  # fmt: skip


class CfnAlarm(CloudFormationModel):
    """AWS::CloudWatch::Alarm over moto's CloudWatch backend."""

    def __init__(self, name: str, account_id: str, region_name: str):
        self.name = name
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attr: str) -> str:
        if attr == "Arn":
            return (f"arn:{get_partition(self.region_name)}:cloudwatch:{self.region_name}:"
                    f"{self.account_id}:alarm:{self.name}")  # fmt: skip
        raise NotImplementedError(attr)

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):  # fmt: skip
        _put_alarm(resource_name, cloudformation_json["Properties"], account_id, region_name)
        return cls(resource_name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):  # fmt: skip
        if new_resource_name != original_resource.name:
            cloudwatch_backends[account_id][region_name].delete_alarms([original_resource.name])
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):  # fmt: skip
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])

    def is_created(self) -> bool:
        return True


# -- ElastiCache ------------------------------------------------------------------------------
class CfnCacheSubnetGroup(CloudFormationModel):
    """AWS::ElastiCache::SubnetGroup."""

    def __init__(self, name: str):
        self.name = name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "CacheSubnetGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElastiCache::SubnetGroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):  # fmt: skip
        props = cloudformation_json["Properties"]
        # CloudFormation lower-cases the name (ElastiCache stores subnet group names so).
        name = resource_name.lower()
        elasticache_backends[account_id][region_name].create_cache_subnet_group(
            name, props["Description"], list(props["SubnetIds"]), props.get("Tags")
        )
        return cls(name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):  # fmt: skip
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):  # fmt: skip
        elasticache_backends[account_id][region_name].cache_subnet_groups.pop(
            resource_name.lower(), None
        )

    def delete(self, account_id: str, region_name: str) -> None:
        self.delete_from_cloudformation_json(self.name, {}, account_id, region_name)

    def is_created(self) -> bool:
        return True


class CfnReplicationGroup(CloudFormationModel):
    """AWS::ElastiCache::ReplicationGroup (cluster mode disabled)."""

    def __init__(self, group):
        self.group = group

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ReplicationGroupId"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElastiCache::ReplicationGroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("PrimaryEndPoint.Address", "PrimaryEndPoint.Port",
                        "ReaderEndPoint.Address", "ReaderEndPoint.Port")  # fmt: skip

    def get_cfn_attribute(self, attr: str) -> str:
        node_group = self.group.node_groups[0]
        if attr == "PrimaryEndPoint.Address":
            return node_group["primary_endpoint_address"]
        if attr == "ReaderEndPoint.Address":
            return node_group["reader_endpoint_address"]
        if attr in ("PrimaryEndPoint.Port", "ReaderEndPoint.Port"):
            return str(self.group.port)
        raise NotImplementedError(attr)

    @property
    def physical_resource_id(self) -> str:
        return self.group.replication_group_id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):  # fmt: skip
        p = cloudformation_json["Properties"]
        backend = elasticache_backends[account_id][region_name]
        group = backend.create_replication_group(
            replication_group_id=resource_name.lower(),
            replication_group_description=p["ReplicationGroupDescription"],
            global_replication_group_id=None, primary_cluster_id=p.get("PrimaryClusterId"),
            automatic_failover_enabled=_bool(p.get("AutomaticFailoverEnabled", False)),
            multi_az_enabled=_bool(p.get("MultiAZEnabled", False)),
            num_cache_clusters=int(p.get("NumCacheClusters", 1)),
            preferred_cache_cluster_azs=p.get("PreferredCacheClusterAZs"), num_node_groups=None,
            replicas_per_node_group=None, node_group_configuration=None,
            cache_node_type=p.get("CacheNodeType"), engine=p.get("Engine", "redis"),
            engine_version=p.get("EngineVersion"),
            cache_parameter_group_name=p.get("CacheParameterGroupName"),
            cache_subnet_group_name=p.get("CacheSubnetGroupName"),
            cache_security_group_names=p.get("CacheSecurityGroupNames") or [],
            security_group_ids=list(p.get("SecurityGroupIds") or []), tags=p.get("Tags") or [],
            snapshot_arns=None, snapshot_name=p.get("SnapshotName"),
            preferred_maintenance_window=p.get("PreferredMaintenanceWindow"),
            port=int(p.get("Port", 6379)), notification_topic_arn=None,
            auto_minor_version_upgrade=_bool(p.get("AutoMinorVersionUpgrade", True)),
            snapshot_retention_limit=int(p.get("SnapshotRetentionLimit", 0)),
            snapshot_window=p.get("SnapshotWindow"), auth_token=p.get("AuthToken"),
            transit_encryption_enabled=_bool(p.get("TransitEncryptionEnabled", False)),
            at_rest_encryption_enabled=_bool(p.get("AtRestEncryptionEnabled", False)),
            kms_key_id=p.get("KmsKeyId"), user_group_ids=p.get("UserGroupIds") or [],
            log_delivery_configurations=[], data_tiering_enabled=False, network_type=None,
            ip_discovery=None, transit_encryption_mode=None, cluster_mode=None,
            serverless_cache_snapshot_name=None,
        )  # fmt: skip
        return cls(group)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):  # fmt: skip
        p = cloudformation_json["Properties"]
        elasticache_backends[account_id][region_name].modify_replication_group(
            original_resource.group.replication_group_id,
            p.get("ReplicationGroupDescription"), None,
            p.get("CacheNodeType"), _bool(p.get("AutomaticFailoverEnabled", False)),
            _bool(p.get("MultiAZEnabled", False)), int(p.get("SnapshotRetentionLimit", 0)),
        )  # fmt: skip
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):  # fmt: skip
        # moto marks the group "deleting" and keeps it; AWS removes it.
        elasticache_backends[account_id][region_name].replication_groups.pop(
            resource_name.lower(), None
        )

    def delete(self, account_id: str, region_name: str) -> None:
        self.delete_from_cloudformation_json(self.group.replication_group_id, {}, account_id,
                                             region_name)  # fmt: skip

    def is_created(self) -> bool:
        return True


# -- S3 ---------------------------------------------------------------------------------------
class CfnBucketPolicy(CloudFormationModel):
    """AWS::S3::BucketPolicy."""

    def __init__(self, bucket: str):
        self.bucket = bucket

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):  # fmt: skip
        props = cloudformation_json["Properties"]
        backend = s3_backends[account_id][get_partition(region_name)]
        backend.put_bucket_policy(props["Bucket"], json.dumps(props["PolicyDocument"]).encode())
        return cls(props["Bucket"])

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):  # fmt: skip
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        backend = s3_backends[account_id][get_partition(region_name)]
        if self.bucket in backend.buckets:
            backend.delete_bucket_policy(self.bucket)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):  # fmt: skip
        cls(resource_name).delete(account_id, region_name)

    def is_created(self) -> bool:
        return True


MODELS = (CfnAlarm, CfnCacheSubnetGroup, CfnReplicationGroup, CfnBucketPolicy)
