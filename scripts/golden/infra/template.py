"""The foundation template and its per-environment parameter files, read as data.

autoscaling/stacks/foundation.yaml is CloudFormation YAML: short-form tags (!Ref, !Sub,
!GetAtt ...) are read into their long form ({"Ref": ...}, {"Fn::Sub": ...}) so the
template's declarations (parameters with their types and constraints, resources with
their deletion policies) are plain data here. Nothing is evaluated. The reading itself
is autoscaling.stacktemplate's, which golden cost shares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autoscaling import stacktemplate
from autoscaling.stacktemplate import PARAMS, STACKS, TEMPLATE, parameter_file, read_parameter_file

__all__ = ["PARAMS", "STACKS", "TEMPLATE", "Template", "load", "parameter_file", "parse",
           "read_parameter_file"]
# Deletion policies that keep data when the stack is deleted (User Guide, DeletionPolicy).
KEEPING = ("Retain", "RetainExceptOnCreate", "Snapshot")
_POLICY_LINE = re.compile(r"^(\s+DeletionPolicy:\s*)(Retain|RetainExceptOnCreate|Snapshot)\s*$",
                          re.M)  # fmt: skip
_SECURE_REF = re.compile(r"\{\{resolve:ssm-secure:\$\{SsmPath\}([A-Za-z0-9_.-]+)\}\}")


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
    return Template(path, text, stacktemplate.parse_data(text, path))


def load(path: Path = TEMPLATE) -> Template:
    """The template at PATH. Raises ConfigError naming the file when it cannot be read."""
    return parse(stacktemplate.read_text(path), path)
