"""`golden infra plan|apply|outputs|destroy` against the emulator: what each leaves behind,
refusals before any change, failures explained."""

from __future__ import annotations

import json

import pytest
import yaml


def _edit_params(world, **changes) -> None:
    data = yaml.safe_load(world.parameters.read_text())
    data.update(changes)
    world.parameters.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"PrivateSubnetCidrs": ["10.40.0.0/24", "10.40.32.0/20"]}, "PrivateSubnetCidrs",
         "overlaps 10.40.0.0/24 (PublicSubnetCidrs)"),
        ({"AvailabilityZones": ["us-east-1a"]}, "AvailabilityZones", "expected 2 different"),
        ({"CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/"
                            "00000000-0000-0000-0000-000000000000"}, "CertificateArn",
         "is in eu-west-1"),
        ({"VpcCidrr": "10.0.0.0/16"}, "VpcCidrr", "no such parameter"),
    ],
)  # fmt: skip
def test_bad_parameters_fail_before_any_aws_call_naming_the_key(staging, changes, key, words):
    _edit_params(staging, **changes)
    for command in ("plan", "apply"):
        result = staging.infra(command, "--yes") if command == "apply" else staging.infra(command)
        assert result.exit_code == 2, result.stderr
        assert f"{staging.parameters}: {key}:" in result.stderr and words in result.stderr
    assert staging.emulator.requests() == []


def test_a_bad_settings_value_fails_naming_the_settings_key(staging):
    staging.edit_settings(lambda d: d["roles"]["app"].update(
        load_balancer={"idle_timeout": 100}))  # fmt: skip
    result = staging.infra("plan")
    assert result.exit_code == 2
    assert "roles.app.load_balancer.idle_timeout" in result.stderr
    assert staging.emulator.requests() == []


def test_plan_and_apply_without_yes_show_the_change_set_and_leave_nothing(staging):
    plan = staging.infra("plan", "--json")
    assert plan.exit_code == 0, plan.stderr
    result = json.loads(plan.stdout)
    assert result["change_set_type"] == "CREATE" and not result["no_changes"]
    added = {row["logical_id"]: row["type"] for row in result["changes"]}
    assert added["Database"] == "AWS::RDS::DBInstance"
    assert added["Cache"] == "AWS::ElastiCache::ReplicationGroup"
    assert "SsmEndpoint" not in added  # InterfaceEndpoints false: the condition leaves it out
    assert result["parameters"]["DeregistrationDelaySeconds"] == "305"

    shown = staging.infra("apply")
    assert shown.exit_code == 0 and "add --yes" in shown.stderr
    assert "Database" in shown.stdout
    assert staging.stack_status() is None
    cfn = staging.client("cloudformation")
    assert cfn.list_change_sets(StackName=staging.stack).get("Summaries", []) == []
    assert "ExecuteChangeSet" not in staging.mutating_calls()


def test_a_secret_the_stack_reads_must_exist_first(staging):
    staging.client("ssm").delete_parameter(Name="/golden/staging/redis_auth_token")
    staging.emulator.clear_requests()
    result = staging.infra("apply", "--yes")
    assert result.exit_code == 3
    assert "/golden/staging/redis_auth_token" in result.stderr
    assert "aws ssm put-parameter" in result.stderr and "--type SecureString" in result.stderr
    assert staging.mutating_calls() == []


def test_a_second_apply_with_nothing_changed_changes_nothing(deployed):
    result = deployed.infra("apply", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "no changes" in result.stdout
    assert "ExecuteChangeSet" not in deployed.mutating_calls()
    assert deployed.stack_status() == "CREATE_COMPLETE"


def test_a_changed_parameter_updates_only_what_uses_it(deployed):
    _edit_params(deployed, LogRetentionDays=60)
    result = deployed.infra("apply", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    changed = {row["logical_id"] for row in json.loads(result.stdout)["changes"]}
    assert "NginxAccessLogs" in changed and "AuthLogs" not in changed  # security logs: 365
    assert "Database" not in changed
    assert deployed.stack_status() == "UPDATE_COMPLETE"
    groups = deployed.client("logs").describe_log_groups(
        logGroupNamePrefix="/golden/staging/nginx/access")["logGroups"]  # fmt: skip
    assert groups[0]["retentionInDays"] == 60


def test_a_failed_create_is_explained_and_the_rolled_back_stack_must_be_removed(staging):
    staging.emulator.fault("CreateResource", "InvalidParameterCombination", service=None,
                           message="RDS does not support creating a DB instance with the "
                                   "following combination: DBInstanceClass=db.t3.medium",
                           match={"LogicalResourceId": "Database"})  # fmt: skip
    failed = staging.infra("apply", "--yes")
    assert failed.exit_code == 4
    assert "Database (AWS::RDS::DBInstance) CREATE_FAILED" in failed.stderr
    assert "DBInstanceClass=db.t3.medium" in failed.stderr
    assert "ROLLBACK_COMPLETE" in failed.stderr
    assert "golden infra destroy staging --yes" in failed.stderr
    assert staging.stack_status() == "ROLLBACK_COMPLETE"
    assert staging.client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": ["golden-staging"]}])["Vpcs"] == []  # fmt: skip

    again = staging.infra("apply", "--yes")
    assert again.exit_code == 3 and "ROLLBACK_COMPLETE" in again.stderr
    assert "golden infra destroy staging --yes" in again.stderr

    # Only an update can switch the data stores to DeletionPolicy Delete; a rolled-back
    # stack takes none, so --delete-data is refused rather than silently not honoured.
    refused = staging.infra("destroy", "--yes", "--delete-data")
    assert refused.exit_code == 3 and "cannot be honoured" in refused.stderr
    assert staging.stack_status() == "ROLLBACK_COMPLETE"

    cleaned = staging.infra("destroy", "--yes")
    assert cleaned.exit_code == 0, cleaned.stderr
    assert staging.stack_status() is None
    recreated = staging.infra("apply", "--yes")
    assert recreated.exit_code == 0, recreated.stderr
    assert staging.stack_status() == "CREATE_COMPLETE"


def test_settings_that_disagree_with_the_stack_they_name_are_refused_by_env_plan(deployed):
    written = deployed.infra("outputs", "--write")
    assert written.exit_code == 0, written.stderr
    deployed.edit_settings(lambda d: d["roles"]["app"].update(
        alarms=["golden-staging-app-5xx"]))  # fmt: skip
    deployed.emulator.clear_requests()
    plan = deployed.golden("env", "plan", deployed.settings)
    assert plan.exit_code == 2
    assert "roles.app.alarms" in plan.stderr and "golden-staging-app-p95-latency" in plan.stderr
    assert "golden infra outputs staging --write" in plan.stderr
    assert deployed.mutating_calls() == []
    shown = deployed.infra("outputs", "--json")
    keys = [d["key"] for d in json.loads(shown.stdout)["disagreements"]]
    assert keys == ["roles.app.alarms"]


def test_a_protected_stack_is_deleted_only_after_the_typed_confirmation(prod):
    applied = prod.infra("apply", "--yes")
    assert applied.exit_code == 0, applied.stderr
    prod.emulator.clear_requests()
    refused = prod.infra("destroy", "--yes")
    assert refused.exit_code == 3 and "--confirm prod" in refused.stderr
    wrong = prod.infra("destroy", "--yes", "--confirm", "staging")
    assert wrong.exit_code == 3
    assert prod.mutating_calls() == []

    done = prod.infra("destroy", "--yes", "--confirm", "prod")
    assert done.exit_code == 0, done.stderr + done.stdout
    assert "deletion protection off" in done.stderr
    assert prod.stack_status() is None
    snapshots = prod.client("rds").describe_db_snapshots(
        DBInstanceIdentifier="golden-prod-database")["DBSnapshots"]  # fmt: skip
    assert len(snapshots) == 1


def test_delete_data_removes_the_data_stores_too(deployed):
    s3 = deployed.client("s3")
    s3.put_object(Bucket="golden-staging-agent-data", Key="uploads/a.pdf", Body=b"%PDF")
    s3.put_object(Bucket="golden-staging-artifacts", Key="golden/hotfix/b.tar.gz", Body=b"x")
    result = deployed.infra("destroy", "--yes", "--delete-data")
    assert result.exit_code == 0, result.stderr + result.stdout
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "golden-staging-agent-data" not in buckets
    assert deployed.client("rds").describe_db_snapshots()["DBSnapshots"] == []
    assert "kept" not in result.stdout


def test_a_failed_deletion_is_explained_and_the_same_command_finishes_it(deployed):
    # AWS refuses to delete a volume still attached to an instance (VolumeInUse); the
    # emulator declares it (its instances are records, not computers).
    deployed.emulator.fault("DeleteResource", "VolumeInUse",
                            message="vol-0123 is currently attached to i-0456",
                            match={"LogicalResourceId": "ChromaDataVolume"})  # fmt: skip
    failed = deployed.infra("destroy", "--yes")
    assert failed.exit_code == 4
    assert "ChromaDataVolume (AWS::EC2::Volume) DELETE_FAILED" in failed.stderr
    assert "attached to i-0456" in failed.stderr
    assert "run the same command again" in failed.stderr
    assert deployed.stack_status() == "DELETE_FAILED"

    finished = deployed.infra("destroy", "--yes")
    assert finished.exit_code == 0, finished.stderr + finished.stdout
    assert deployed.stack_status() is None
