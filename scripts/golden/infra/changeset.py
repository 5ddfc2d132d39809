"""Decisions about the foundation stack and its change sets (pure): which change set a
stack can take, whether a change set changes anything, the plan's table, when an
operation is over and how it failed. Statuses and reasons as the CloudFormation API
reference documents them (DescribeStacks StackStatus, DescribeChangeSet Status and
StatusReason, DescribeStackEvents ResourceStatus)."""

from __future__ import annotations

from golden.core.errors import PreflightError

# DescribeChangeSet: a change set that would change nothing ends FAILED with this reason
# (the second is what older APIs and UpdateStack answer).
NO_CHANGE_REASONS = ("didn't contain changes", "No updates are to be performed")
UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
SUCCEEDED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE")
FAILED = ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_FAILED",
          "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED")  # fmt: skip
CHANGE_SET_DONE = ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED")


def cleanup_command(stack: str, region: str, env_name: str) -> str:
    return (f"golden infra destroy {env_name} --yes (or: aws cloudformation delete-stack "
            f"--stack-name {stack} --region {region})")  # fmt: skip


def change_set_type(stack: dict | None, env_name: str, region: str) -> str:
    """CREATE or UPDATE for a stack described as STACK (None: it does not exist). Raises
    PreflightError naming what to do for a stack that can take neither."""
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        # REVIEW_IN_PROGRESS: a change set was made and never executed (an earlier plan
        # that was interrupted); CloudFormation creates the stack from a new one.
        return "CREATE"
    status, name = stack["StackStatus"], stack["StackName"]
    if status in UPDATABLE:
        return "UPDATE"
    if status == "ROLLBACK_COMPLETE":
        raise PreflightError(
            f"stack {name} is ROLLBACK_COMPLETE: its creation failed and was rolled back, "
            f"nothing of it is left but the record, and CloudFormation cannot update it. "
            f"Delete it, then apply again: {cleanup_command(name, region, env_name)}"
        )
    if status.endswith("_IN_PROGRESS"):
        raise PreflightError(f"stack {name} is {status}: another operation is running; wait "
                             f"for it to end, then run this again")  # fmt: skip
    raise PreflightError(
        f"stack {name} is {status}: CloudFormation cannot update it until that is resolved "
        f"(see its events: aws cloudformation describe-stack-events --stack-name {name} "
        f"--region {region}); a stack that was never used can be removed with "
        f"{cleanup_command(name, region, env_name)}"
    )


def is_no_change(change_set: dict) -> bool:
    return change_set.get("Status") == "FAILED" and any(
        reason in (change_set.get("StatusReason") or "") for reason in NO_CHANGE_REASONS
    )


def rows(changes: list[dict], data_stores: dict[str, str]) -> list[dict]:
    """One row per resource change (DescribeChangeSet Changes[].ResourceChange): action,
    logical id, type, physical id, replacement, and a warning for a data store that is
    replaced or removed (DATA_STORES: {logical id: DeletionPolicy})."""
    out = []
    for change in changes:
        rc = change.get("ResourceChange") or {}
        action, lid = rc.get("Action", ""), rc.get("LogicalResourceId", "")
        replacement = rc.get("Replacement") or ""
        note = ""
        if lid in data_stores and (action == "Remove" or replacement in ("True", "Conditional")):
            what = "removed" if action == "Remove" else f"replaced ({replacement})"
            note = (f"DATA STORE {what}: a new empty one; the old one is kept as its "
                    f"DeletionPolicy says ({data_stores[lid]})")  # fmt: skip
        out.append({"action": action, "logical_id": lid, "type": rc.get("ResourceType", ""),
                    "physical_id": rc.get("PhysicalResourceId") or "",
                    "replacement": replacement, "note": note})  # fmt: skip
    order = {"Remove": 0, "Modify": 1, "Add": 2}
    return sorted(out, key=lambda r: (order.get(r["action"], 3), r["logical_id"]))


def finished(status: str) -> bool:
    return status in SUCCEEDED or status in FAILED


def failed_events(events: list[dict]) -> list[dict]:
    """The events that say what failed, oldest first (EVENTS newest first, as
    DescribeStackEvents returns them): every resource *_FAILED with its reason."""
    return [e for e in reversed(events)
            if e.get("ResourceStatus", "").endswith("_FAILED")
            and e.get("ResourceType") != "AWS::CloudFormation::Stack"]  # fmt: skip


def explain(stack: str, status: str, failures: list[dict], region: str, env_name: str) -> str:
    """The message for an operation that ended in STATUS: what failed and why (FAILURES:
    failed_events), and what to do about the stack now."""
    lines = [f"{e['LogicalResourceId']} ({e['ResourceType']}) {e['ResourceStatus']}: "
             f"{e.get('ResourceStatusReason') or 'no reason given'}" for e in failures]  # fmt: skip
    what = "\n  ".join(lines) or "(no resource reported a failure)"
    advice = {
        "ROLLBACK_COMPLETE": (
            "CloudFormation rolled the creation back: the stack holds nothing and cannot be "
            "updated. Fix the cause, delete it, and apply again: "
            + cleanup_command(stack, region, env_name)
        ),
        "UPDATE_ROLLBACK_COMPLETE": "CloudFormation put the stack back as it was before this "
                                    "update; nothing changed. Fix the cause and apply again.",
        "DELETE_FAILED": "the resources listed are still there; fix the cause and run the "
                         "same command again.",
    }.get(status, f"the stack is {status}; see its events: aws cloudformation "
                  f"describe-stack-events --stack-name {stack} --region {region}")
    return f"stack {stack} ended {status}:\n  {what}\n{advice}"
