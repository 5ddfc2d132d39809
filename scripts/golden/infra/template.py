"""The foundation template and its per-environment parameter files, read as data.

autoscaling/stacks/foundation.yaml is CloudFormation YAML: short-form tags (!Ref, !Sub,
!GetAtt ...) are read into their long form ({"Ref": ...}, {"Fn::Sub": ...}) so the
template's declarations (parameters with their types and constraints, resources with
their deletion policies) are plain data here. Nothing is evaluated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

import autoscaling
from golden.core.errors import ConfigError

STACKS = Path(autoscaling.__file__).resolve().parent / "stacks"
TEMPLATE = STACKS / "foundation.yaml"
PARAMS = STACKS / "params"
# Deletion policies that keep data when the stack is deleted (User Guide, DeletionPolicy).
KEEPING = ("Retain", "RetainExceptOnCreate", "Snapshot")
_POLICY_LINE = re.compile(r"^(\s+DeletionPolicy:\s*)(Retain|RetainExceptOnCreate|Snapshot)\s*$",
                          re.M)  # fmt: skip
_SECURE_REF = re.compile(r"\{\{resolve:ssm-secure:\$\{SsmPath\}([A-Za-z0-9_.-]+)\}\}")


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


@dataclass(frozen=True)
class Template:
    path: Path
    text: str
    data: dict

    @property
    def parameters(self) -> dict[str, dict]:
        """{name: declaration (Type, Default, AllowedValues, AllowedPattern, MinValue ...)}"""
        return self.data.get("Parameters") or {}

    @property
    def data_stores(self) -> dict[str, str]:
        """{logical id: DeletionPolicy} of the resources that keep data when the stack is
        deleted (a final snapshot or the resource itself)."""
        resources = self.data.get("Resources") or {}
        return {lid: res["DeletionPolicy"] for lid, res in resources.items()
                if res.get("DeletionPolicy") in KEEPING}  # fmt: skip

    def deleting_data(self) -> str:
        """The template text with every data store's DeletionPolicy set to Delete: what
        `golden infra destroy --delete-data` updates the stack to before deleting it."""
        return _POLICY_LINE.sub(r"\1Delete", self.text)

    def secure_parameters(self) -> list[str]:
        """Names (under SsmPath) of the SecureStrings CloudFormation reads at deploy time
        (``{{resolve:ssm-secure:${SsmPath}NAME}}``), in template order, each once."""
        return list(dict.fromkeys(_SECURE_REF.findall(self.text)))


def parse(text: str, path: Path = TEMPLATE) -> Template:
    """TEXT (a template's YAML) as a Template; PATH names it in errors."""
    try:
        data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: cannot read the foundation template: {exc}") from None
    if not isinstance(data, dict) or "Resources" not in data:
        raise ConfigError(f"{path}: expected a CloudFormation template with Resources")
    return Template(path, text, data)


def load(path: Path = TEMPLATE) -> Template:
    """The template at PATH. Raises ConfigError naming the file when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the foundation template: {exc}") from None
    return parse(text, path)


def parameter_file(env_name: str, given: str | None = None) -> Path:
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
