"""CloudFormation, SSM, S3 and Auto Scaling calls of `golden infra` (thin adapter).

Every wait is bounded in time and in polls; sleeping is a parameter so tests need none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from golden.core.errors import OperationFailed
from golden.infra import changeset

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]  # the template names its roles and profiles


@dataclass(frozen=True)
class Wait:
    """How long to wait for CloudFormation: ``poll`` seconds between reads, at most
    ``timeout`` seconds in all."""

    poll: float = 10.0
    timeout: float = 3600.0
    sleep: Callable[[float], None] = time.sleep

    @property
    def polls(self) -> int:
        return max(1, int(self.timeout / max(self.poll, 0.001)) + 1)


def _missing(exc: ClientError) -> bool:
    return "does not exist" in str(exc.response.get("Error", {}).get("Message", ""))


def describe(cfn, name_or_id: str) -> dict | None:
    """The stack (DescribeStacks), or None when there is none of that name."""
    try:
        stacks = cfn.describe_stacks(StackName=name_or_id)["Stacks"]
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return stacks[0] if stacks else None


def create_change_set(cfn, request: dict) -> dict:
    """CreateChangeSet. REQUEST: stack, name, body, parameters {key: text}, type, tags.
    Returns {"Id", "StackId"}."""
    return cfn.create_change_set(
        StackName=request["stack"], ChangeSetName=request["name"],
        TemplateBody=request["body"], ChangeSetType=request["type"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v}
                    for k, v in sorted(request["parameters"].items())],
        Capabilities=CAPABILITIES,
        Tags=[{"Key": k, "Value": v} for k, v in sorted(request["tags"].items())],
        Description="golden infra",
    )  # fmt: skip


def wait_change_set(cfn, change_set_id: str, wait: Wait) -> dict:
    """The change set once CloudFormation has computed it, with every change (all pages)."""
    for attempt in range(wait.polls):
        described = cfn.describe_change_set(ChangeSetName=change_set_id)
        if described["Status"] in changeset.CHANGE_SET_DONE:
            changes = list(described.get("Changes") or [])
            token = described.get("NextToken")
            for _page in range(1000):  # bounded: 1000 pages of changes is far beyond a stack
                if not token:
                    break
                more = cfn.describe_change_set(ChangeSetName=change_set_id, NextToken=token)
                changes += more.get("Changes") or []
                token = more.get("NextToken")
            return {**described, "Changes": changes}
        if attempt + 1 < wait.polls:
            wait.sleep(wait.poll)
    raise OperationFailed(f"change set {change_set_id} was not ready after {wait.timeout:.0f} s")


def discard(cfn, change_set: dict, stack_was_new: bool) -> None:
    """Delete a change set that will not be executed, and the empty REVIEW_IN_PROGRESS
    stack CloudFormation made for it when the stack did not exist before."""
    cfn.delete_change_set(ChangeSetName=change_set["ChangeSetId"])
    if stack_was_new:
        cfn.delete_stack(StackName=change_set["StackId"])


def execute(cfn, change_set_id: str) -> None:
    cfn.execute_change_set(ChangeSetName=change_set_id)


def _new_events(cfn, stack_id: str, seen: set[str]) -> list[dict]:
    """Events not seen yet, oldest first (DescribeStackEvents pages newest first)."""
    fresh: list[dict] = []
    token = None
    for _page in range(1000):  # bounded; stops at the first page of known events
        kwargs = {"StackName": stack_id, **({"NextToken": token} if token else {})}
        page = cfn.describe_stack_events(**kwargs)
        new = [e for e in page.get("StackEvents", []) if e["EventId"] not in seen]
        fresh += new
        token = page.get("NextToken")
        if not token or len(new) < len(page.get("StackEvents", [])):
            break
    seen.update(e["EventId"] for e in fresh)
    return list(reversed(fresh))


def known_events(cfn, stack_id: str) -> set[str]:
    """The ids of the events the stack has now (those are not this operation's)."""
    seen: set[str] = set()
    _new_events(cfn, stack_id, seen)
    return seen


def wait_stack(cfn, stack_id: str, seen: set[str], wait: Wait,
               on_event: Callable[[dict], None]) -> tuple[str, list[dict]]:  # fmt: skip
    """Poll until the stack's operation ends; ON_EVENT gets each new event as it comes.
    Returns (final StackStatus, this operation's events newest first). SEEN: ids of the
    events from before the operation (known_events)."""
    events: list[dict] = []
    for attempt in range(wait.polls):
        for event in _new_events(cfn, stack_id, seen):
            events.insert(0, event)
            on_event(event)
        stack = describe(cfn, stack_id)
        status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
        if changeset.finished(status):
            return status, events
        if attempt + 1 < wait.polls:
            wait.sleep(wait.poll)
    raise OperationFailed(f"stack {stack_id} still in progress after {wait.timeout:.0f} s; it "
                          f"goes on in AWS (aws cloudformation describe-stacks)")  # fmt: skip


def delete_stack(cfn, stack_id: str) -> None:
    cfn.delete_stack(StackName=stack_id)


# -- around the stack -------------------------------------------------------------------------
def missing_secure_strings(ssm, names: list[str]) -> list[str]:
    """NAMES that are not SecureString parameters (missing, or of another type). Reads
    metadata only (DescribeParameters), never a value."""
    found: dict[str, str] = {}
    for start in range(0, len(names), 50):  # a filter takes at most 50 values
        pages = ssm.get_paginator("describe_parameters").paginate(ParameterFilters=[
            {"Key": "Name", "Option": "Equals", "Values": names[start:start + 50]}])
        for page in pages:
            found.update({p["Name"]: p.get("Type", "") for p in page.get("Parameters", [])})
    return [n for n in names if found.get(n) != "SecureString"]


def existing_groups(autoscaling, names: list[str]) -> list[str]:
    """NAMES that are Auto Scaling groups in the region."""
    if not names:
        return []
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)
    return sorted(g["AutoScalingGroupName"] for g in groups.get("AutoScalingGroups", []))


def empty_bucket(s3, bucket: str) -> int:
    """Delete every object version and delete marker of BUCKET (what CloudFormation needs
    before it can delete a bucket); the number deleted. A missing bucket: 0."""
    deleted = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for page in pages:
            items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                     for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(items), 1000):  # DeleteObjects takes at most 1000
                s3.delete_objects(Bucket=bucket,
                                  Delete={"Objects": items[start:start + 1000], "Quiet": True})
                deleted += len(items[start:start + 1000])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchBucket", "404"):
            return 0
        raise
    return deleted
