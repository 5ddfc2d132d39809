"""CloudFormation stack operations as the CloudFormation User Guide and API reference
describe them, over moto 5.2's resource models (emulator/cfn_resources.py adds the types
moto lacks).

What moto 5.2 does differently, and this module changes:
- CreateChangeSet with a template and parameters equal to the stack's answers
  "No updates are to be performed."; AWS creates the change set with Status FAILED and
  StatusReason "The submitted information didn't contain changes. Submit different
  information to create a change set." (API reference, DescribeChangeSet). Here too.
  ChangeSetType defaults to UPDATE, as in the API reference (moto: CREATE). A change set
  on a stack that cannot be updated (ROLLBACK_COMPLETE, ...) is refused with AWS's
  message; CREATE on an existing stack that is not REVIEW_IN_PROGRESS is refused.
- Changes list Add, Modify (the resource's definition differs, or a parameter or
  condition it uses changed value; moto finds only Ref) and Remove, with the physical id
  of existing resources; resources whose Condition is false are left out.
- Parameters are checked at CreateChangeSet as CloudFormation does: every parameter
  without Default needs a value, AllowedValues, AllowedPattern, MinValue/MaxValue,
  MinLength/MaxLength; a template with IAM resources needs CAPABILITY_IAM, with named IAM
  resources CAPABILITY_NAMED_IAM (InsufficientCapabilitiesException).
- ExecuteChangeSet only from ExecutionStatus AVAILABLE; the stack's outputs exist after a
  CREATE change set (moto: none); one event per resource (CREATE_IN_PROGRESS,
  CREATE_COMPLETE, CREATE_FAILED with the reason, UPDATE_*, DELETE_*, DELETE_SKIPPED).
- A resource that fails rolls the stack back: a failed creation deletes what was created
  and ends ROLLBACK_COMPLETE (the stack can then only be deleted); a failed update applies
  the previous template and parameters again and ends UPDATE_ROLLBACK_COMPLETE. moto
  answers the API call with the resource's error instead.
- DeleteStack honours DeletionPolicy (User Guide, "DeletionPolicy attribute"): Retain and
  RetainExceptOnCreate keep the resource (DELETE_SKIPPED; RetainExceptOnCreate is deleted
  when a creation rolls back), Snapshot takes a final snapshot of an RDS instance, an EBS
  volume or an ElastiCache replication group and then deletes it, and an RDS DB instance
  without a DeletionPolicy (and without DBClusterIdentifier) is snapshotted, which is
  AWS's default. Resources are deleted dependents first. A resource that cannot be
  deleted (an RDS instance with deletion protection, a load balancer with deletion
  protection, a bucket that still holds objects: "The bucket you tried to delete is not
  empty") ends DELETE_FAILED and so does the stack, which stays (moto deletes what it
  can and drops the stack, or keeps a non-empty bucket silently).
- Template reading (dynamic references, list parameters, ``!GetAtt A.B.C``):
  emulator/cfn_parsing.py.
- A test can make one resource fail: POST /moto-api/golden/faults
  {"action": "CreateResource" | "DeleteResource", "code": CODE, "message": TEXT,
  "match": {"LogicalResourceId": ID}} (or "ResourceType"); emulator/faults.py. Resources
  do fail on AWS for reasons the emulator does not model (limits, a volume still
  attached to an instance, capacity).

Not modelled: time (every operation finishes within the call; the statuses in between are
only seen in the events), which updates need a replacement (Replacement and Details are
not reported; updates are in place, emulator/cfn_resources.py), drift, stack policies,
termination protection, nested stacks, rollback triggers, change set hooks, resource
import, the names AWS gives final snapshots, template size limits.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import AlreadyExistsException, ValidationError
from moto.cloudformation.models import (
    Change,
    ChangeSet,
    CloudFormationBackend,
    Event,
    Stack,
)
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudformation.utils import (
    generate_changeset_id,
    generate_stack_id,
    validate_create_change_set,
)
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.moto_api._internal import mock_random

from autoscaling.emulator import cfn_parsing, faults, stack_diff
from autoscaling.emulator.cfn_resources import after_create, update_in_place
from autoscaling.emulator.cfn_resources import delete as delete_unmodelled

NO_CHANGES = ("The submitted information didn't contain changes. Submit different "
              "information to create a change set.")  # fmt: skip
UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
_lock = threading.RLock()
_current: dict[str, Any] = {}


class CloudFormationClientError(ServiceException):

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


class ResourceFailed(Exception):
    """A resource of the stack being worked on failed; the reason is already an event."""

    def __init__(self, logical_id: str, reason: str):
        super().__init__(f"{logical_id}: {reason}")
        self.logical_id = logical_id
        self.reason = reason


# -- events -----------------------------------------------------------------------------------
def _event(stack: Stack, logical_id: str, physical_id: str, resource_type: str, status: str,
           reason: str | None = None) -> None:  # fmt: skip
    stack.events.append(Event(
        stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
        physical_resource_id=physical_id or "", resource_type=resource_type,
        resource_status=status, resource_status_reason=reason, resource_properties=None,
    ))  # fmt: skip


def _stack_event(stack: Stack, status: str, reason: str | None = None) -> None:
    stack.status = status
    stack.status_reason = reason
    _event(stack, stack.name, stack.stack_id, "AWS::CloudFormation::Stack", status, reason)


def reason_of(exc: BaseException) -> str:
    """AWS's wording for a resource that failed: the handler's message and error code."""
    if isinstance(exc, ResourceFailed):
        return exc.reason
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    code = getattr(exc, "error_type", None) or getattr(exc, "code", None)
    code = code if isinstance(code, str) else type(exc).__name__
    return f'Resource handler returned message: "{message}" (HandlerErrorCode: {code})'


# -- hooks into moto's resource creation ----------------------------------------------------------
_original_create = parsing.parse_and_create_resource
_original_update = parsing.parse_and_update_resource


def _declared_failure(logical_id: str, resource_type: str, action: str = "CreateResource") -> None:
    rule = faults.take({"service": "cloudformation", "action": action,
                        "params": {"LogicalResourceId": logical_id,
                                   "ResourceType": resource_type}})  # fmt: skip
    if rule is not None:
        raise CloudFormationClientError(rule["code"], rule["message"])


def _create_resource(logical_id, resource_json, resources_map, account_id, region_name):
    stack = _current.get("stack")
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        return None
    resource_type = resource_json["Type"]
    if stack is None:
        return _original_create(logical_id, resource_json, resources_map, account_id,
                                region_name)  # fmt: skip
    _event(stack, logical_id, "", resource_type, "CREATE_IN_PROGRESS")
    try:
        if parsing.resource_class_from_type(resource_type) is None:
            raise ValidationError(message=f"the emulator does not model {resource_type}")
        _declared_failure(logical_id, resource_type)
        resource = _original_create(logical_id, resource_json, resources_map, account_id,
                                    region_name)  # fmt: skip
        props = resources_map._resource_json_map[logical_id].get("Properties") or {}
        cleaned = parsing.clean_json(props, resources_map)
        after_create(resource, resource_type, cleaned, account_id, region_name)
    except ResourceFailed:
        _event(stack, logical_id, "", resource_type, "CREATE_FAILED", "Resource creation cancelled")
        raise
    except Exception as exc:
        reason = reason_of(exc)
        _event(stack, logical_id, "", resource_type, "CREATE_FAILED", reason)
        _current.setdefault("failed", []).append(logical_id)
        raise ResourceFailed(logical_id, reason) from exc
    _event(stack, logical_id, getattr(resource, "physical_resource_id", ""), resource_type,
           "CREATE_COMPLETE")  # fmt: skip
    return resource


def _update_resource(logical_id, resource_json, resources_map, account_id, region_name):
    stack = _current.get("stack")
    resource_type = resource_json["Type"]
    original = resources_map[logical_id]
    physical = getattr(original, "physical_resource_id", "")
    if stack is not None:
        _event(stack, logical_id, physical, resource_type, "UPDATE_IN_PROGRESS")
    try:
        parsed = parsing.parse_resource_and_generate_name(logical_id, resource_json,
                                                          resources_map)  # fmt: skip
        props = parsed[1].get("Properties") or {}
        if update_in_place(original, resource_type, props, account_id, region_name):
            updated = original
        else:
            updated = _original_update(logical_id, resource_json, resources_map, account_id,
                                       region_name)  # fmt: skip
            # moto's types without an update keep the resource as it was (not modelled).
            updated = original if updated is None else updated
    except Exception as exc:
        reason = reason_of(exc)
        if stack is not None:
            _event(stack, logical_id, physical, resource_type, "UPDATE_FAILED", reason)
            _current.setdefault("failed", []).append(logical_id)
        raise ResourceFailed(logical_id, reason) from exc
    if stack is not None:
        _event(stack, logical_id, getattr(updated, "physical_resource_id", physical),
               resource_type, "UPDATE_COMPLETE")  # fmt: skip
    return updated


# -- change sets ------------------------------------------------------------------------------
def _find_stack(backend: CloudFormationBackend, name_or_id: str) -> Stack | None:
    if name_or_id in backend.stacks:
        return backend.stacks[name_or_id]
    return next((s for s in backend.stacks.values() if s.name == name_or_id), None)


def _resource_map(stack: Stack, template: dict, parameters: dict):
    """A loaded ResourceMap (parameters and conditions resolved, nothing created)."""
    rm = parsing.ResourceMap(stack.stack_id, stack.name, parameters, stack.tags,
                             region_name=stack.region_name, account_id=stack.account_id,
                             template=template, cross_stack_resources={})  # fmt: skip
    rm.load()
    return rm


def _describe_change(action: str, logical_id: str, resource_type: str, physical: str) -> Change:
    change = Change(action=action, logical_resource_id=logical_id, resource_type=resource_type)
    change.physical_resource_id = physical or None
    return change


def create_change_set(backend: CloudFormationBackend, request: dict) -> tuple[str, str]:
    """CreateChangeSet. REQUEST: stack_name, change_set_name, template (text), parameters
    (name -> value as given), change_set_type (CREATE|UPDATE), capabilities, description,
    tags. Returns (change set id, stack id)."""
    validate_create_change_set(request["change_set_name"])
    template = Stack.parse_template(request["template"])
    stack_diff.check_capabilities(template, request["capabilities"])
    stack_diff.check_parameters(template, request["parameters"])
    existing = _find_stack(backend, request["stack_name"])
    if request["change_set_type"] == "CREATE":
        if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
            raise AlreadyExistsException(
                f"Stack [{request['stack_name']}] already exists and cannot be created again "
                f"with the changeSet [{request['change_set_name']}]."
            )
        stack = existing or _review_stack(backend, request)
        old = None
    else:
        if existing is None:
            raise ValidationError(message=f"Stack [{request['stack_name']}] does not exist")
        if existing.status not in UPDATABLE:
            raise ValidationError(message=f"Stack:{existing.stack_id} is in {existing.status} "
                                          f"state and can not be updated.")  # fmt: skip
        stack = existing
        old = (stack.template_dict, stack.resource_map)
    new_map = _resource_map(stack, template, request["parameters"])
    changes = stack_diff.changes(old, (template, new_map))
    change_set = ChangeSet(
        change_set_type=request["change_set_type"],
        change_set_id=generate_changeset_id(request["change_set_name"], backend.region_name,
                                            backend.account_id),  # fmt: skip
        change_set_name=request["change_set_name"], stack=stack, template=request["template"],
        parameters=dict(new_map.resolved_parameters), description=request["description"],
        tags=request["tags"],
    )  # fmt: skip
    change_set.input_parameters = dict(request["parameters"])
    change_set.changes = [_describe_change(*c) for c in changes]
    unchanged = old is not None and not changes and stack_diff.same_inputs(stack, template,
                                                                           new_map)  # fmt: skip
    if unchanged:
        change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
        change_set.status_reason = NO_CHANGES
    else:
        change_set.status, change_set.execution_status = "CREATE_COMPLETE", "AVAILABLE"
    backend.change_sets[change_set.change_set_id] = change_set
    return change_set.change_set_id, stack.stack_id


def _review_stack(backend: CloudFormationBackend, request: dict) -> Stack:
    stack = Stack(stack_id=generate_stack_id(request["stack_name"], backend.region_name,
                                             backend.account_id),
                  name=request["stack_name"], template={}, parameters={},
                  account_id=backend.account_id, region_name=backend.region_name,
                  tags=request["tags"])  # fmt: skip
    backend.stacks[stack.stack_id] = stack
    _stack_event(stack, "REVIEW_IN_PROGRESS", "User Initiated")
    return stack


def _create_change_set_response(self) -> ActionResult:
    stack_name = self._get_param("StackName")
    body = self._get_param("TemplateBody")
    if self._get_param("TemplateURL"):
        body = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
    existing = _find_stack(self.cloudformation_backend, stack_name)
    previous = dict(existing.input_parameters) if existing is not None and hasattr(
        existing, "input_parameters") else {}  # fmt: skip
    if self._get_bool_param("UsePreviousTemplate", False):
        if existing is None:
            raise ValidationError(message=f"Stack [{stack_name}] does not exist")
        body = existing.template
    if not body:
        raise ValidationError(message="Either Template URL or Template Body must be specified.")
    parameters = {}
    for item in self._get_param("Parameters", []):
        key = item["ParameterKey"]
        parameters[key] = previous.get(key) if item.get("UsePreviousValue") else item.get(
            "ParameterValue")  # fmt: skip
    with _lock:
        change_set_id, stack_id = create_change_set(self.cloudformation_backend, {
            "stack_name": stack_name, "change_set_name": self._get_param("ChangeSetName"),
            "template": body, "parameters": parameters,
            "change_set_type": self._get_param("ChangeSetType", "UPDATE"),
            "capabilities": self._get_param("Capabilities", []),
            "description": self._get_param("Description"),
            "tags": {t["Key"]: t["Value"] for t in self._get_param("Tags", [])},
        })  # fmt: skip
    return ActionResult({"Id": change_set_id, "StackId": stack_id})


# -- executing --------------------------------------------------------------------------------
def _find_change_set(backend: CloudFormationBackend, name: str, stack_name: str | None):
    if name in backend.change_sets:
        return backend.change_sets[name]
    for change_set in backend.change_sets.values():
        if change_set.change_set_name == name and stack_name in (None, change_set.stack_name,
                                                                 change_set.stack_id):
            return change_set
    raise CloudFormationClientError("ChangeSetNotFound", f"ChangeSet [{name}] does not exist")


def _execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
    with _lock:
        change_set = _find_change_set(self, change_set_name, stack_name)
        if change_set.execution_status != "AVAILABLE":
            raise CloudFormationClientError(
                "InvalidChangeSetStatus",
                f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
                f"execution status of [{change_set.execution_status}]",
            )
        stack = self.stacks[change_set.stack_id]
        _current.clear()
        _current["stack"] = stack
        try:
            if change_set.change_set_type == "CREATE":
                ok = _create(stack, change_set)
            else:
                ok = _update(stack, change_set)
        finally:
            _current.clear()
        change_set.execution_status = "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"
        # Executing a change set deletes the stack's other change sets (User Guide).
        for other in [c for c in self.change_sets.values()
                      if c.stack_id == stack.stack_id and c is not change_set]:  # fmt: skip
            del self.change_sets[other.change_set_id]


def _adopt(stack: Stack, change_set: ChangeSet) -> None:
    stack.template = change_set.template
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.parameters = dict(change_set.input_parameters)
    stack.input_parameters = dict(change_set.input_parameters)


def _create(stack: Stack, change_set: ChangeSet) -> bool:
    _adopt(stack, change_set)
    _stack_event(stack, "CREATE_IN_PROGRESS", "User Initiated")
    try:
        stack.resource_map = stack._create_resource_map()
        stack.output_map = stack._create_output_map()
        stack.resource_map.create(stack.template_dict)
        stack.outputs  # noqa: B018 - evaluating the outputs can fail like a resource can
    except Exception as exc:  # every failure rolls back, as CloudFormation does
        failed = _current.get("failed") or [getattr(exc, "logical_id", "template")]
        _stack_event(stack, "ROLLBACK_IN_PROGRESS",
                     f"The following resource(s) failed to create: [{', '.join(failed)}]. "
                     f"Rollback requested by user.")  # fmt: skip
        left = delete_resources(stack, rollback=True)
        _stack_event(stack, "ROLLBACK_FAILED" if left else "ROLLBACK_COMPLETE")
        return False
    _stack_event(stack, "CREATE_COMPLETE")
    return True


def _apply(stack: Stack, template: dict, parameters: dict, changes: list[tuple]) -> None:
    """Bring the stack's resources from its current template to TEMPLATE (CHANGES as
    stack_diff.changes computed them): removals first, then additions, then updates."""
    rm = stack.resource_map
    for action, logical_id, *_ in changes:
        if action == "Remove":
            _delete_one(stack, rm, logical_id, rollback=False, raise_errors=True)
    rm._template = template
    rm.input_parameters = parameters
    rm.load_mapping()
    rm.load_parameters()
    rm.load_conditions()
    rm._resource_json_map = template["Resources"]
    for action, logical_id, *_ in changes:
        if action == "Add":
            _ = rm[logical_id]
    for action, logical_id, *_ in changes:
        if action == "Modify":
            rm._parsed_resources[logical_id] = parsing.parse_and_update_resource(
                logical_id, rm._resource_json_map[logical_id], rm, rm._account_id,
                rm._region_name,
            )  # fmt: skip
    stack.output_map = stack._create_output_map()
    stack.outputs  # noqa: B018 - evaluated now so a broken output fails the update


def _update(stack: Stack, change_set: ChangeSet) -> bool:
    before = (stack.template, dict(getattr(stack, "input_parameters", stack.parameters)))
    old_template = stack.template_dict
    _stack_event(stack, "UPDATE_IN_PROGRESS", "User Initiated")
    try:
        new_template = Stack.parse_template(change_set.template)
        _apply(stack, new_template, change_set.input_parameters,
               [(c.action, c.logical_resource_id) for c in change_set.changes])  # fmt: skip
    except Exception:  # every failure rolls back, as CloudFormation does
        failed = _current.get("failed") or []
        _stack_event(stack, "UPDATE_ROLLBACK_IN_PROGRESS",
                     f"The following resource(s) failed to update: [{', '.join(failed)}].")
        try:
            back_map = _resource_map(stack, old_template, before[1])
            now = (Stack.parse_template(change_set.template), stack.resource_map)
            _apply(stack, old_template, before[1],
                   stack_diff.changes(now, (old_template, back_map)))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - reported as the stack's state
            _stack_event(stack, "UPDATE_ROLLBACK_FAILED", reason_of(exc))
            return False
        stack.template, stack.parameters = before
        stack.input_parameters = dict(before[1])
        stack._parse_template()
        _stack_event(stack, "UPDATE_ROLLBACK_COMPLETE")
        return False
    _adopt(stack, change_set)
    _stack_event(stack, "UPDATE_COMPLETE")
    return True


# -- deleting ---------------------------------------------------------------------------------
def _policy(resource_json: dict) -> str:
    policy = resource_json.get("DeletionPolicy")
    if policy:
        return policy
    properties = resource_json.get("Properties") or {}
    if (resource_json["Type"] == "AWS::RDS::DBInstance"
            and "DBClusterIdentifier" not in properties):  # fmt: skip
        return "Snapshot"  # AWS's default for this type
    return "Delete"


def _snapshot(stack: Stack, logical_id: str, resource) -> None:
    from moto.ec2.models import ec2_backends
    from moto.elasticache.models import elasticache_backends
    from moto.rds.models import rds_backends

    account, region = stack.account_id, stack.region_name
    name = f"{stack.name}-{logical_id}-{mock_random.get_random_hex(8)}".lower()
    kind = resource.cf_resource_type
    if kind == "AWS::RDS::DBInstance":
        rds_backends[account][region].create_db_snapshot(resource.db_instance_identifier, name)
    elif kind == "AWS::EC2::Volume":
        ec2_backends[account][region].create_snapshot(resource.id, f"{stack.name} {logical_id}")
    elif kind == "AWS::ElastiCache::ReplicationGroup":
        elasticache_backends[account][region].create_snapshot(
            name, resource.group.replication_group_id, None, None, None)  # fmt: skip


def _check_deletable(stack: Stack, resource) -> None:
    if resource.cf_resource_type != "AWS::S3::Bucket":
        return
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket = s3_backends[stack.account_id][get_partition(stack.region_name)].buckets.get(
        resource.name)  # fmt: skip
    if bucket is not None and len(bucket.keys):
        raise CloudFormationClientError(
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty. You must delete all versions in "
            "the bucket.",
        )


def _delete_one(stack: Stack, rm, logical_id: str, *, rollback: bool,
                raise_errors: bool = False) -> str | None:  # fmt: skip
    """Delete one resource as its DeletionPolicy says; the failure reason, or None."""
    resource = rm._parsed_resources.get(logical_id)
    resource_json = rm._resource_json_map[logical_id]
    kind = resource_json["Type"]
    physical = getattr(resource, "physical_resource_id", "")
    policy = _policy(resource_json)
    if policy == "Retain" or (policy == "RetainExceptOnCreate" and not rollback):
        _event(stack, logical_id, physical, kind, "DELETE_SKIPPED")
        rm._parsed_resources.pop(logical_id, None)
        return None
    _event(stack, logical_id, physical, kind, "DELETE_IN_PROGRESS")
    try:
        _declared_failure(logical_id, kind, "DeleteResource")
        _check_deletable(stack, resource)
        if policy == "Snapshot":
            _snapshot(stack, logical_id, resource)
        if not delete_unmodelled(resource, kind, stack.account_id, stack.region_name):
            rm._delete_resource(resource, resource_json)
    except Exception as exc:  # reported as the resource's DELETE_FAILED
        reason = reason_of(exc)
        if raise_errors:
            _event(stack, logical_id, physical, kind, "DELETE_FAILED", reason)
            raise ResourceFailed(logical_id, reason) from exc
        return reason
    rm._parsed_resources.pop(logical_id, None)
    _event(stack, logical_id, physical, kind, "DELETE_COMPLETE")
    return None


def _forget_deleted(stack: Stack) -> None:
    # moto's ResourceMap creates any resource of its template it is asked for (listing
    # resources, outputs): after a rollback or a failed deletion only what is left stays.
    rm = stack.resource_map
    rm._resource_json_map = {lid: res for lid, res in rm._resource_json_map.items()
                             if hasattr(rm._parsed_resources.get(lid), "cf_resource_type")}
    stack.output_map = parsing.OutputMap(rm, {}, stack.stack_id)


def delete_resources(stack: Stack, *, rollback: bool) -> list[str]:
    """Delete the stack's resources, dependents first, each once; the logical ids that
    failed (each with a DELETE_FAILED event). What a failed resource depends on is left
    alone (it is still in use), as CloudFormation does."""
    rm = stack.resource_map
    present = [lid for lid, obj in rm._parsed_resources.items()
               if lid in rm._resource_json_map and hasattr(obj, "cf_resource_type")]  # fmt: skip
    needs = stack_diff.dependencies(rm._resource_json_map, present)
    blocked: set[str] = set()
    failed: list[str] = []
    for logical_id in stack_diff.deletion_order(rm._resource_json_map, present):
        if logical_id in blocked:
            blocked |= needs[logical_id]
            continue
        reason = _delete_one(stack, rm, logical_id, rollback=rollback)
        if reason is not None:
            _event(stack, logical_id, "", rm._resource_json_map[logical_id]["Type"],
                   "DELETE_FAILED", reason)  # fmt: skip
            failed.append(logical_id)
            blocked |= needs[logical_id]
    _forget_deleted(stack)
    return sorted(failed)


def _delete_stack(self, name_or_stack_id: str) -> None:
    with _lock:
        stack = _find_stack(self, name_or_stack_id)
        if stack is None:
            return  # DeleteStack of a stack that does not exist succeeds (API reference)
        _current.clear()
        _current["stack"] = stack
        try:
            _stack_event(stack, "DELETE_IN_PROGRESS", "User Initiated")
            left = delete_resources(stack, rollback=False)
        finally:
            _current.clear()
        if left:
            _stack_event(stack, "DELETE_FAILED",
                         f"The following resource(s) failed to delete: [{', '.join(left)}]. ")
            return
        for export in stack.exports:
            self.exports.pop(export.name, None)
        self.stacks.pop(stack.stack_id, None)
        self.deleted_stacks[stack.stack_id] = stack
        for change_set_id in [c.change_set_id for c in self.change_sets.values()
                              if c.stack_id == stack.stack_id]:  # fmt: skip
            del self.change_sets[change_set_id]
        _stack_event(stack, "DELETE_COMPLETE")


_installed = False


def install() -> None:
    """Replace moto's change-set and stack operations with this module's (idempotent)."""
    global _installed
    if _installed:
        return
    cfn_parsing.install()
    parsing.parse_and_create_resource = _create_resource
    parsing.parse_and_update_resource = _update_resource
    CloudFormationResponse.create_change_set = _create_change_set_response
    CloudFormationBackend.execute_change_set = _execute_change_set
    CloudFormationBackend.delete_stack = _delete_stack
    _installed = True
