"""The foundation template and its per-environment parameter files, read as data.

autoscaling/stacks/foundation.yaml is CloudFormation YAML: short-form tags (!Ref, !Sub,
!GetAtt ...) are read into their long form ({"Ref": ...}, {"Fn::Sub": ...}) so the
template's declarations (parameters, conditions, resources) are plain data. Two jobs read
it, and neither may import the other: `golden infra` deploys it, `golden cost` prices it.
So the reading lives here, below both. Nothing is evaluated except, on request, the
template's own Conditions over given parameter values (which resources a stack has).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from golden.core.errors import ConfigError

STACKS = Path(__file__).resolve().parent / "stacks"
TEMPLATE = STACKS / "foundation.yaml"
PARAMS = STACKS / "params"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short-form intrinsic functions."""


def _short_form(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


def parse_data(text: str, path: Path = TEMPLATE) -> dict:
    """TEXT (a template's YAML) as plain data; PATH names it in errors. Raises
    ConfigError when it is not YAML or has no Resources."""
    try:
        data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: cannot read the foundation template: {exc}") from None
    if not isinstance(data, dict) or "Resources" not in data:
        raise ConfigError(f"{path}: expected a CloudFormation template with Resources")
    return data


def read_text(path: Path = TEMPLATE) -> str:
    """The template's text. Raises ConfigError naming the file when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the foundation template: {exc}") from None


def parameter_file(env_name: str, given: str | Path | None = None) -> Path:
    """The parameter file of ENV_NAME: GIVEN (a path), else autoscaling/stacks/params/ENV.yaml."""
    return Path(given) if given else PARAMS / f"{env_name}.yaml"


def read_parameter_file(path: Path) -> dict:
    """{ParameterKey: value} from a YAML mapping. Raises ConfigError naming the file."""
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in PARAMS.glob("*.yaml")))
        raise ConfigError(f"{path}: no such parameter file (autoscaling/stacks/params has: "
                          f"{known}; or give --parameters FILE)")  # fmt: skip
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter names to values")
    return data


# -- Conditions -----------------------------------------------------------------------------------
def as_parameter_text(value: Any) -> str:
    """VALUE as CloudFormation passes a parameter: text, booleans as true/false, lists
    joined with commas (so Fn::Equals compares what CloudFormation would)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(as_parameter_text(v) for v in value)
    return str(value)


def _ref_value(data: dict, node: Any, values: Mapping[str, Any], where: str) -> str:
    """A Ref to a parameter (its value in VALUES, else its Default) or a literal, as text."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        key = node["Ref"]
        declared = (data.get("Parameters") or {}).get(key) or {}
        if key in values:
            return as_parameter_text(values[key])
        if "Default" in declared:
            return as_parameter_text(declared["Default"])
        raise ConfigError(f"{where}: {key} has no value and no default")
    if isinstance(node, (dict, list)):
        raise ConfigError(f"{where}: cannot evaluate {node!r}")
    return as_parameter_text(node)


def condition_holds(data: dict, name: str, values: Mapping[str, Any],
                    path: Path = TEMPLATE) -> bool:  # fmt: skip
    """Whether the template's condition NAME holds for parameter VALUES (names to values;
    a parameter left out takes its Default). Fn::Equals, Fn::Not, Fn::And, Fn::Or, Ref
    and Condition are understood; anything else raises ConfigError naming the condition
    (the caller cannot tell which resources the stack has)."""
    conditions = data.get("Conditions") or {}
    where = f"{path}: Conditions.{name}"
    if name not in conditions:
        raise ConfigError(f"{where}: no such condition")

    def holds(node: Any) -> bool:
        function, args = next(iter(node.items())) if isinstance(node, dict) else (None, None)
        if function == "Fn::Equals" and len(node) == 1:
            return _ref_value(data, args[0], values, where) == _ref_value(data, args[1], values,
                                                                          where)  # fmt: skip
        if function == "Fn::Not" and len(node) == 1:
            return not holds(args[0])
        if function in ("Fn::And", "Fn::Or") and len(node) == 1:
            return (all if function == "Fn::And" else any)(holds(a) for a in args)
        if function == "Condition" and len(node) == 1:
            return condition_holds(data, args, values, path)
        raise ConfigError(f"{where}: cannot evaluate {node!r}")

    return holds(conditions[name])


def resources(data: dict, kind: str, values: Mapping[str, Any],
              path: Path = TEMPLATE) -> dict[str, dict]:  # fmt: skip
    """{logical id: Properties} of the template's resources of type KIND that a stack with
    parameter VALUES has (no Condition, or one that holds)."""
    out = {}
    for logical_id, resource in (data.get("Resources") or {}).items():
        if resource.get("Type") != kind:
            continue
        condition = resource.get("Condition")
        if condition is None or condition_holds(data, condition, values, path):
            out[logical_id] = resource.get("Properties") or {}
    return out
