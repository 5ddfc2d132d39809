"""The pure decisions of `golden infra` and of the settings-versus-stack check: which change
set a stack takes, the plan's rows, failures explained, the settings' disagreements with
the stack's outputs, the settings file written without losing its comments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from golden.core.errors import PreflightError
from golden.infra import changeset, destroy, outputs

from autoscaling import foundation
from autoscaling.settings import ENV_DIR, load


# -- change sets (statuses and reasons from the CloudFormation API reference) -----------------
@pytest.mark.parametrize(
    ("status", "expected"),
    [(None, "CREATE"), ("REVIEW_IN_PROGRESS", "CREATE"), ("CREATE_COMPLETE", "UPDATE"),
     ("UPDATE_COMPLETE", "UPDATE"), ("UPDATE_ROLLBACK_COMPLETE", "UPDATE")],
)  # fmt: skip
def test_a_stack_takes_the_change_set_its_status_allows(status, expected):
    stack = None if status is None else {"StackStatus": status, "StackName": "s"}
    assert changeset.change_set_type(stack, "staging", "us-east-1") == expected


@pytest.mark.parametrize(
    ("status", "words"),
    [("ROLLBACK_COMPLETE", "golden infra destroy staging --yes"),
     ("UPDATE_IN_PROGRESS", "another operation is running"),
     ("DELETE_FAILED", "describe-stack-events --stack-name s")],
)  # fmt: skip
def test_a_stack_that_can_take_no_change_set_is_refused_with_what_to_do(status, words):
    with pytest.raises(PreflightError, match=words):
        changeset.change_set_type({"StackStatus": status, "StackName": "s"}, "staging",
                                  "us-east-1")  # fmt: skip


def test_only_a_failed_change_set_without_changes_means_nothing_to_do():
    reason = ("The submitted information didn't contain changes. Submit different "
              "information to create a change set.")  # fmt: skip
    assert changeset.is_no_change({"Status": "FAILED", "StatusReason": reason})
    assert not changeset.is_no_change({"Status": "FAILED", "StatusReason": "Template error"})
    assert not changeset.is_no_change({"Status": "CREATE_COMPLETE"})


def _change(action, lid, replacement=None):
    rc = {"Action": action, "LogicalResourceId": lid, "ResourceType": "AWS::X::Y"}
    if replacement:
        rc["Replacement"] = replacement
    return {"Type": "Resource", "ResourceChange": rc}


def test_rows_warn_when_a_data_store_is_replaced_or_removed_and_list_removals_first():
    rows = changeset.rows(
        [_change("Add", "Vpc"), _change("Modify", "Database", "True"),
         _change("Modify", "Cache", "False"), _change("Remove", "UploadsBucket")],
        {"Database": "Snapshot", "Cache": "Snapshot", "UploadsBucket": "RetainExceptOnCreate"},
    )  # fmt: skip
    assert [r["logical_id"] for r in rows] == ["UploadsBucket", "Cache", "Database", "Vpc"]
    notes = {r["logical_id"]: r["note"] for r in rows}
    assert notes["Database"].startswith("DATA STORE replaced (True)")
    assert notes["UploadsBucket"].startswith("DATA STORE removed")
    assert notes["Cache"] == "" and notes["Vpc"] == ""


def test_failures_are_the_resources_failed_events_oldest_first_with_their_reasons():
    events = [  # newest first, as DescribeStackEvents returns them
        {"LogicalResourceId": "s", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "ROLLBACK_COMPLETE"},
        {"LogicalResourceId": "Cache", "ResourceType": "AWS::ElastiCache::ReplicationGroup",
         "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "Resource creation cancelled"},
        {"LogicalResourceId": "Database", "ResourceType": "AWS::RDS::DBInstance",
         "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "quota exceeded"},
    ]  # fmt: skip
    failed = changeset.failed_events(events)
    assert [e["LogicalResourceId"] for e in failed] == ["Database", "Cache"]
    text = changeset.explain("s", "ROLLBACK_COMPLETE", failed, "us-east-1", "staging")
    assert "Database (AWS::RDS::DBInstance) CREATE_FAILED: quota exceeded" in text
    assert "aws cloudformation delete-stack --stack-name s --region us-east-1" in text


# -- the settings against the stack's outputs -----------------------------------------------------
OUTPUTS = {
    "PrivateSubnetIds": "subnet-a,subnet-b", "AppSecurityGroupId": "sg-app",
    "AppTargetGroupArn": "arn:tg", "AppInstanceProfileName": "golden-staging-app",
    "AppAlarmNames": "golden-staging-app-5xx,golden-staging-app-p95-latency",
    "ChromaSubnetId": "subnet-a", "ChromaSecurityGroupId": "sg-chroma",
    "ChromaInstanceProfileName": "golden-staging-chroma",
    "ChromaAlarmNames": "golden-staging-chroma-heartbeat",
    "ChromaDataVolumeName": "golden-staging-chroma-data", "DatabaseEndpoint": "db.host",
    "DatabasePort": "5432", "CacheEndpoint": "cache.host", "CachePort": "6379",
    "UploadsBucketName": "golden-staging-agent-data",
    "ArtifactsBucketName": "golden-staging-artifacts", "SsmPath": "/golden/staging/",
    "LogGroupPrefix": "/golden/staging", "VpcId": "vpc-1",
}  # fmt: skip
RESOLVED = {"app": {"subnets": ["subnet-b", "subnet-a"], "security_groups": ["sg-app"],
                    "target_groups": ["arn:tg"]},
            "chroma": {"subnets": ["subnet-a"], "security_groups": ["sg-chroma"],
                       "target_groups": []}}  # fmt: skip


def _settings(**instance_changes) -> dict:
    raw = load("staging").raw
    raw["instance"]["database"]["host"] = "db.host"
    raw["instance"]["redis"]["host"] = "cache.host"
    for key, value in instance_changes.items():
        raw["instance"][key] = value
    return raw


def test_settings_that_resolve_to_the_stacks_values_agree_in_any_order():
    raw = _settings()
    document = load("staging").instance_document("app")
    document["database"]["host"], document["redis"]["host"] = "db.host", "cache.host"
    have = foundation.current(raw, document, RESOLVED)
    assert foundation.disagreements(have, foundation.expected(OUTPUTS, ["app", "chroma"])) == []


def test_every_disagreement_is_named_with_both_values():
    raw = _settings()
    raw["roles"]["app"]["alarms"] = ["golden-staging-app-5xx"]
    raw["roles"]["app"]["instance_profile"] = "arn:aws:iam::1:instance-profile/x/other"
    document = load("staging").instance_document("app")
    document["redis"].pop("tls")
    resolved = {**RESOLVED, "app": {**RESOLVED["app"], "subnets": None}}
    problems = foundation.disagreements(foundation.current(raw, document, resolved),
                                        foundation.expected(OUTPUTS, ["app", "chroma"]))
    keys = {foundation.dotted(p): (have, want) for p, have, want in problems}
    assert keys["roles.app.subnets"] == (None, ["subnet-a", "subnet-b"])
    assert keys["roles.app.instance_profile"] == ("other", "golden-staging-app")
    assert keys["roles.app.alarms"][1] == ["golden-staging-app-5xx",
                                           "golden-staging-app-p95-latency"]  # fmt: skip
    assert keys["instance.redis.tls"] == (False, True)
    assert keys["instance.database.host"] == ("golden-staging.cluster-example.us-east-1.rds."
                                              "amazonaws.com", "db.host")  # fmt: skip
    message = foundation.describe(problems, "golden-staging-foundation", "staging")
    assert "golden infra outputs staging --write" in message
    assert "roles.app.subnets: the settings say nothing (or names that do not resolve)" in message


def test_only_the_roles_the_settings_have_are_compared():
    assert ("roles", "chroma", "subnets") not in foundation.expected(OUTPUTS, ["app"])


# -- writing the settings file ------------------------------------------------------------------
def test_the_settings_file_keeps_its_comments_order_and_flow_style_when_written():
    text = (ENV_DIR / "staging.yaml").read_text()
    after = outputs.updated_text(text, [
        (("roles", "app", "subnets"), ["subnet-a", "subnet-b"]),
        (("instance", "database", "host"), "db.host"),
    ], "golden-staging-foundation")  # fmt: skip
    changed = [line for line in outputs.diff(Path("s"), text, after).splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]  # fmt: skip
    assert "+    subnets: [subnet-a, subnet-b]" in changed
    assert len(changed) == 5  # the subnets line, and database's two lines become one
    data = yaml.safe_load(after)
    assert data["instance"]["database"] == {**yaml.safe_load(text)["instance"]["database"],
                                            "host": "db.host"}  # fmt: skip
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            assert line in after
    assert outputs.updated_text(after, [], "golden-staging-foundation") == after


def test_a_settings_file_without_foundation_stack_gets_it_after_region():
    text = (ENV_DIR / "local.yaml").read_text()
    after = outputs.updated_text(text, [], "golden-local-foundation")
    lines = after.splitlines()
    assert lines[lines.index("region: us-east-1") + 1] == (
        "foundation_stack: golden-local-foundation")


# -- destroy --------------------------------------------------------------------------------------
def test_destroy_refuses_a_protected_stack_without_the_typed_name_and_standing_groups():
    with pytest.raises(PreflightError, match="--confirm prod"):
        destroy.decide("prod", {"DeletionProtection": "false"}, None, [], "us-east-1")
    with pytest.raises(PreflightError, match="--confirm staging"):
        destroy.decide("staging", {"DeletionProtection": "true"}, "prod", [], "us-east-1")
    destroy.decide("prod", {}, "prod", [], "us-east-1")
    with pytest.raises(PreflightError, match="--auto-scaling-group-name golden-staging-app"):
        destroy.decide("staging", {}, None, ["golden-staging-app"], "us-east-1")


def test_destroy_says_what_it_keeps():
    kept = destroy.kept({"Database": "Snapshot", "UploadsBucket": "RetainExceptOnCreate"},
                        {"UploadsBucketName": "golden-staging-agent-data"}, False)  # fmt: skip
    assert kept[0].startswith("Database: a final snapshot")
    assert kept[1].startswith("UploadsBucket: golden-staging-agent-data itself")
    assert destroy.kept({"Database": "Snapshot"}, {}, True) == []
