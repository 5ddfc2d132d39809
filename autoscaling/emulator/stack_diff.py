"""Pure parts of the emulator's CloudFormation (emulator/stacks.py): what a change set
changes, the checks CreateChangeSet makes on parameters and capabilities, and the order
resources are deleted in. From the CloudFormation User Guide ("Update your stack with
change sets", "Parameters", "Acknowledging IAM resources") and API reference."""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.core.exceptions import ServiceException

_SUB_NAME = re.compile(r"\$\{([^!}][^}]*)\}")
# IAM resource types and the property that names them (User Guide, "Acknowledging IAM
# resources in CloudFormation templates").
IAM_NAMES = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::UserToGroupAddition": None,
}


class InsufficientCapabilities(ServiceException):

    def __init__(self, capability: str):
        super().__init__("InsufficientCapabilitiesException",
                         f"Requires capabilities : [{capability}]")  # fmt: skip


def references(value: Any) -> tuple[set[str], set[str]]:
    """(names referenced: Ref, GetAtt, Sub; conditions used by Fn::If) inside VALUE."""
    names: set[str] = set()
    conditions: set[str] = set()
    stack = [value]
    for _ in range(1_000_000):  # bounded: a template is far smaller
        if not stack:
            break
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                if key == "Ref" and isinstance(inner, str):
                    names.add(inner)
                elif key == "Fn::GetAtt":
                    names.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
                elif key == "Fn::Sub":
                    text = inner[0] if isinstance(inner, list) else inner
                    names.update(m.split(".")[0] for m in _SUB_NAME.findall(str(text)))
                    stack.append(inner)
                elif key == "Fn::If" and isinstance(inner, list) and inner:
                    conditions.add(inner[0])
                    stack.extend(inner[1:])
                elif key == "Condition" and isinstance(inner, str):
                    conditions.add(inner)
                else:
                    stack.append(inner)
    return names, conditions


def _active(template: dict, resource_map) -> dict[str, dict]:
    out = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        condition = resource.get("Condition")
        if condition and not resource_map.lazy_condition_map[condition]:
            continue
        out[logical_id] = resource
    return out


def changes(old: tuple | None, new: tuple) -> list[tuple[str, str, str, str]]:
    """The change set's resource changes, [(Action, LogicalResourceId, ResourceType,
    PhysicalResourceId)], from OLD (template, loaded ResourceMap; None for a new stack) to
    NEW. Modify: the definition differs, or a parameter or condition it uses changed."""
    new_template, new_map = new
    want = _active(new_template, new_map)
    if old is None:
        return [("Add", lid, res["Type"], "") for lid, res in want.items()]
    old_template, old_map = old
    have = _active(old_template, old_map)
    params_changed = {
        name for name in set(old_map.resolved_parameters) | set(new_map.resolved_parameters)
        if old_map.resolved_parameters.get(name) != new_map.resolved_parameters.get(name)
    }
    conditions_changed = {
        name for name in set(old_template.get("Conditions") or {})
        & set(new_template.get("Conditions") or {})
        if old_map.lazy_condition_map[name] != new_map.lazy_condition_map[name]
    }

    def physical(lid: str) -> str:
        return getattr(old_map._parsed_resources.get(lid), "physical_resource_id", "") or ""

    out = []
    for lid, res in want.items():
        if lid not in have:
            out.append(("Add", lid, res["Type"], ""))
            continue
        names, conditions = references(res)
        if (res != have[lid] or names & params_changed or conditions & conditions_changed):
            out.append(("Modify", lid, res["Type"], physical(lid)))
    out += [("Remove", lid, res["Type"], physical(lid)) for lid, res in have.items()
            if lid not in want]  # fmt: skip
    return out


def same_inputs(stack, template: dict, new_map) -> bool:
    """True when TEMPLATE and the resolved parameters equal what STACK runs."""
    return (stack.template_dict == template
            and stack.resource_map.resolved_parameters == new_map.resolved_parameters)


def check_capabilities(template: dict, capabilities: list[str]) -> None:
    """Raise InsufficientCapabilitiesException when the template holds IAM resources
    (CAPABILITY_IAM) or named ones (CAPABILITY_NAMED_IAM) the caller did not acknowledge."""
    needed = None
    for resource in (template.get("Resources") or {}).values():
        kind = resource.get("Type")
        if kind not in IAM_NAMES:
            continue
        named = IAM_NAMES[kind] and IAM_NAMES[kind] in (resource.get("Properties") or {})
        needed = "CAPABILITY_NAMED_IAM" if named or needed == "CAPABILITY_NAMED_IAM" else (
            "CAPABILITY_IAM")  # fmt: skip
    if needed == "CAPABILITY_NAMED_IAM" and needed not in capabilities:
        raise InsufficientCapabilities(needed)
    if needed == "CAPABILITY_IAM" and not set(capabilities) & {"CAPABILITY_IAM",
                                                               "CAPABILITY_NAMED_IAM"}:
        raise InsufficientCapabilities(needed)


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValidationError(message=f"Parameter '{name}' must be a number.") from None


def _check_one(name: str, spec: dict, value: str) -> None:
    kind = spec.get("Type", "String")
    items = value.split(",") if kind.startswith("List") or kind == "CommaDelimitedList" else [
        value]  # fmt: skip
    for item in items:
        if "AllowedValues" in spec and item not in [str(v) for v in spec["AllowedValues"]]:
            raise ValidationError(message=f"Parameter '{name}' must be one of AllowedValues")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], item):
            raise ValidationError(message=f"Parameter '{name}' must match pattern "
                                          f"{spec['AllowedPattern']}")  # fmt: skip
        if kind == "Number":
            number = _number(name, item)
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise ValidationError(message=f"Parameter '{name}' must be a number not less "
                                              f"than {spec['MinValue']}")  # fmt: skip
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise ValidationError(message=f"Parameter '{name}' must be a number not "
                                              f"greater than {spec['MaxValue']}")  # fmt: skip
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise ValidationError(message=f"Parameter '{name}' must contain at least "
                                      f"{spec['MinLength']} characters")  # fmt: skip
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise ValidationError(message=f"Parameter '{name}' must contain at most "
                                      f"{spec['MaxLength']} characters")  # fmt: skip


def check_parameters(template: dict, given: dict[str, Any]) -> None:
    """Raise ValidationError as CreateChangeSet does for parameters: unknown names, a
    parameter without a value, a value outside its declared constraints."""
    declared = template.get("Parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in "
                                      f"the template")  # fmt: skip
    missing = [n for n, s in declared.items() if given.get(n) is None and "Default" not in s]
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    for name, spec in declared.items():
        value = given.get(name, spec.get("Default"))
        if value is not None and not (value == "" and spec.get("Default") == ""):
            _check_one(name, spec, str(value))


def dependencies(resources: dict[str, dict], present: list[str]) -> dict[str, set[str]]:
    """{logical id: the ids among PRESENT it depends on (Ref, GetAtt, Sub, DependsOn)}."""
    wanted = set(present)
    needs: dict[str, set[str]] = {}
    for lid in present:
        names, _ = references(resources[lid].get("Properties") or {})
        depends = resources[lid].get("DependsOn") or []
        names |= set([depends] if isinstance(depends, str) else depends)
        needs[lid] = names & wanted - {lid}
    return needs


def deletion_order(resources: dict[str, dict], present: list[str]) -> list[str]:
    """PRESENT's logical ids with every resource before the ones it depends on, so
    dependents are deleted first."""
    wanted = set(present)
    needs = dependencies(resources, present)
    needed_by: dict[str, int] = {lid: 0 for lid in present}
    for lid in present:
        for dep in needs[lid]:
            needed_by[dep] += 1
    order, ready = [], sorted(lid for lid in present if not needed_by[lid])
    while ready:
        lid = ready.pop(0)
        order.append(lid)
        for dep in sorted(needs[lid]):
            needed_by[dep] -= 1
            if not needed_by[dep]:
                ready.append(dep)
    return order + sorted(wanted - set(order))
