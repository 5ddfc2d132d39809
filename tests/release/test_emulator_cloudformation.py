"""The emulator's CloudFormation (autoscaling/emulator/stacks.py, cfn_resources.py) through
boto3, against what the CloudFormation API reference and User Guide document. Not
modelled (listed in those modules): time (operations end within the call), Replacement
and change Details, drift, stack policies, nested stacks."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

NETWORK = """
Parameters:
  Cidr: {Type: String, Default: 10.9.0.0/16}
  Subnets: {Type: CommaDelimitedList, Default: "10.9.1.0/24,10.9.2.0/24"}
  Size: {Type: Number, Default: 2, AllowedValues: [1, 2]}
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: !Ref Cidr, Tags: [{Key: Name, Value: cfn-test}]}
  SubnetB:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: !Select [1, !Ref Subnets]}
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: /cfn-test, RetentionInDays: 7}
Outputs:
  SubnetId: {Value: !Ref SubnetB}
"""


@pytest.fixture
def cfn(emulator):
    emulator.reset()
    return _client(emulator, "cloudformation")


def _client(emulator, service):
    return boto3.client(service, region_name="us-east-1", endpoint_url=emulator.url,
                        config=Config(retries={"max_attempts": 1}))  # fmt: skip


def _run(cfn, body, *, kind="CREATE", params=None, name="cfn-test", caps=()):
    made = cfn.create_change_set(
        StackName=name, ChangeSetName=f"c{len(cfn.list_stacks()['StackSummaries'])}x",
        TemplateBody=body, ChangeSetType=kind, Capabilities=list(caps),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (params or {}).items()],
    )  # fmt: skip
    return cfn.describe_change_set(ChangeSetName=made["Id"])


def _status(cfn, name="cfn-test"):
    return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def _events(cfn, name="cfn-test"):
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason"))
            for e in reversed(cfn.describe_stack_events(StackName=name)["StackEvents"])]


def test_a_create_change_set_makes_the_stack_outputs_and_one_event_per_resource(cfn, emulator):
    described = _run(cfn, NETWORK)
    assert described["Status"] == "CREATE_COMPLETE"
    assert described["ExecutionStatus"] == "AVAILABLE"
    assert {c["ResourceChange"]["LogicalResourceId"] for c in described["Changes"]} == {
        "Vpc", "SubnetB", "Logs"}  # fmt: skip
    assert _status(cfn) == "REVIEW_IN_PROGRESS"
    cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
    stack = cfn.describe_stacks(StackName="cfn-test")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    subnet = stack["Outputs"][0]["OutputValue"]
    # The Default of a CommaDelimitedList is a list: item 1 is the second range.
    described_subnet = _client(emulator, "ec2").describe_subnets(SubnetIds=[subnet])
    assert described_subnet["Subnets"][0]["CidrBlock"] == "10.9.2.0/24"
    assert ("SubnetB", "CREATE_COMPLETE", None) in _events(cfn)


def test_an_update_without_changes_is_a_failed_change_set_with_awss_reason(cfn):
    """API reference, DescribeChangeSet: "The submitted information didn't contain
    changes. Submit different information to create a change set." (Status FAILED)."""
    cfn.execute_change_set(ChangeSetName=_run(cfn, NETWORK)["ChangeSetId"])
    again = _run(cfn, NETWORK, kind="UPDATE")
    assert again["Status"] == "FAILED" and again["ExecutionStatus"] == "UNAVAILABLE"
    assert again["StatusReason"].startswith("The submitted information didn't contain changes")
    with pytest.raises(ClientError, match="InvalidChangeSetStatus"):
        cfn.execute_change_set(ChangeSetName=again["ChangeSetId"])


def test_a_parameter_change_modifies_only_what_uses_it(cfn, emulator):
    cfn.execute_change_set(ChangeSetName=_run(cfn, NETWORK)["ChangeSetId"])
    body = NETWORK.replace("RetentionInDays: 7", "RetentionInDays: !Ref Size")
    changed = _run(cfn, body, kind="UPDATE", params={"Size": "1"})
    actions = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["Action"]
               for c in changed["Changes"]}  # fmt: skip
    assert actions == {"Logs": "Modify"}
    cfn.execute_change_set(ChangeSetName=changed["ChangeSetId"])
    assert _status(cfn) == "UPDATE_COMPLETE"
    groups = _client(emulator, "logs").describe_log_groups(logGroupNamePrefix="/cfn-test")
    assert groups["logGroups"][0]["retentionInDays"] == 1


def test_create_change_set_checks_parameters_and_capabilities(cfn):
    with pytest.raises(ClientError, match="Parameter 'Size' must be one of AllowedValues"):
        _run(cfn, NETWORK, params={"Size": "3"})
    with pytest.raises(ClientError, match=r"Parameters: \[Nope\] do not exist"):
        _run(cfn, NETWORK, params={"Nope": "x"})
    named_role = ("Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n"
                  "      RoleName: cfn-test\n      AssumeRolePolicyDocument: {}\n")  # fmt: skip
    with pytest.raises(ClientError, match=r"Requires capabilities : \[CAPABILITY_NAMED_IAM\]"):
        _run(cfn, named_role, caps=["CAPABILITY_IAM"])


def test_a_failed_resource_rolls_the_creation_back_and_the_stack_can_only_be_deleted(cfn,
                                                                                   emulator):
    """User Guide: a failed creation rolls back (ROLLBACK_COMPLETE); such a stack "can't be
    updated" and must be deleted. ssm-secure reads a SecureString at deploy time."""
    body = NETWORK.replace("Outputs:", """  Db:
    Type: AWS::RDS::DBInstance
    Properties:
      Engine: postgres
      DBInstanceClass: db.t3.micro
      AllocatedStorage: 20
      MasterUsername: app
      MasterUserPassword: "{{resolve:ssm-secure:/cfn-test/db_password}}"
Outputs:""")
    cfn.execute_change_set(ChangeSetName=_run(cfn, body)["ChangeSetId"])
    assert _status(cfn) == "ROLLBACK_COMPLETE"
    events = _events(cfn)
    assert ("Db", "CREATE_FAILED",
            'Resource handler returned message: "Parameters: [ssm-secure:/cfn-test/db_password] '
            'cannot be found." (HandlerErrorCode: ValidationError)') in events  # fmt: skip
    assert any(e[0] == "Vpc" and e[1] == "DELETE_COMPLETE" for e in events)
    vpcs = _client(emulator, "ec2").describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": ["cfn-test"]}])["Vpcs"]  # fmt: skip
    assert vpcs == []
    with pytest.raises(ClientError, match="is in ROLLBACK_COMPLETE state and can not be updated"):
        _run(cfn, body, kind="UPDATE")
    cfn.delete_stack(StackName="cfn-test")
    assert cfn.describe_stacks()["Stacks"] == []

    _client(emulator, "ssm").put_parameter(Name="/cfn-test/db_password", Type="String",
                                           Value="not-a-secure-string")  # fmt: skip
    cfn.execute_change_set(ChangeSetName=_run(cfn, body)["ChangeSetId"])
    assert any("is a String, expected SecureString" in (e[2] or "") for e in _events(cfn))


def test_deletion_policies_keep_retain_and_snapshot_what_they_name(cfn, emulator):
    """User Guide, DeletionPolicy: Retain keeps the resource, Snapshot takes a final
    snapshot, RetainExceptOnCreate keeps it except when its creation rolls back; an RDS
    DB instance without DBClusterIdentifier defaults to Snapshot."""
    body = """Resources:
  Kept:
    Type: AWS::S3::Bucket
    DeletionPolicy: RetainExceptOnCreate
    Properties: {BucketName: cfn-test-kept}
  Gone:
    Type: AWS::S3::Bucket
    Properties: {BucketName: cfn-test-gone}
  Db:
    Type: AWS::RDS::DBInstance
    Properties: {Engine: postgres, DBInstanceClass: db.t3.micro, AllocatedStorage: 20,
                 MasterUsername: app, MasterUserPassword: not-a-real-one-1234}
"""
    cfn.execute_change_set(ChangeSetName=_run(cfn, body)["ChangeSetId"])
    assert _status(cfn) == "CREATE_COMPLETE"
    s3 = _client(emulator, "s3")
    s3.put_object(Bucket="cfn-test-gone", Key="k", Body=b"x")
    cfn.delete_stack(StackName="cfn-test")
    # A bucket with objects cannot be deleted: the stack stays, DELETE_FAILED.
    assert _status(cfn) == "DELETE_FAILED"
    assert ("Gone", "DELETE_FAILED", 'Resource handler returned message: "The bucket you '
            'tried to delete is not empty. You must delete all versions in the bucket." '
            '(HandlerErrorCode: BucketNotEmpty)') in _events(cfn)  # fmt: skip
    s3.delete_object(Bucket="cfn-test-gone", Key="k")
    cfn.delete_stack(StackName="cfn-test")
    assert cfn.describe_stacks()["Stacks"] == []
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["cfn-test-kept"]
    assert len(_client(emulator, "rds").describe_db_snapshots()["DBSnapshots"]) == 1


def test_types_moto_lacks_are_created_from_templates(cfn, emulator):
    body = """Resources:
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmName: cfn-test-alarm, Namespace: AWS/EC2, MetricName: StatusCheckFailed,
                 Statistic: Maximum, Period: 60, EvaluationPeriods: 1, Threshold: 1,
                 ComparisonOperator: GreaterThanOrEqualToThreshold}
  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.8.0.0/16}}
  Subnet: {Type: AWS::EC2::Subnet, Properties: {VpcId: !Ref Vpc, CidrBlock: 10.8.1.0/24}}
  CacheSubnets:
    Type: AWS::ElastiCache::SubnetGroup
    Properties: {Description: t, SubnetIds: [!Ref Subnet]}
  Cache:
    Type: AWS::ElastiCache::ReplicationGroup
    Properties: {ReplicationGroupDescription: t, Engine: redis, CacheNodeType: cache.t3.micro,
                 NumCacheClusters: 1, CacheSubnetGroupName: !Ref CacheSubnets,
                 TransitEncryptionEnabled: true}
Outputs:
  Address: {Value: !GetAtt Cache.PrimaryEndPoint.Address}
"""
    cfn.execute_change_set(ChangeSetName=_run(cfn, body)["ChangeSetId"])
    assert _status(cfn) == "CREATE_COMPLETE", _events(cfn)
    alarms = _client(emulator, "cloudwatch").describe_alarms(AlarmNames=["cfn-test-alarm"])
    assert len(alarms["MetricAlarms"]) == 1
    address = cfn.describe_stacks(StackName="cfn-test")["Stacks"][0]["Outputs"][0]["OutputValue"]
    groups = _client(emulator, "elasticache").describe_replication_groups()["ReplicationGroups"]
    assert groups[0]["NodeGroups"][0]["PrimaryEndpoint"]["Address"] == address
