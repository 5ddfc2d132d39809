"""How the emulator's CloudFormation reads a template, where moto 5.2 reads it otherwise
(installed by emulator/stacks.py; from the CloudFormation User Guide):

- Dynamic references ``{{resolve:ssm:NAME}}`` and ``{{resolve:ssm-secure:NAME}}`` (with an
  optional ``:VERSION``) are resolved from the emulator's Parameter Store when a resource
  is created or updated (ssm-secure only from a SecureString, ssm only from String or
  StringList); a missing parameter fails the resource ("Parameters:
  [ssm-secure:NAME] cannot be found."). moto passes the reference on as text.
- ``AWS::NoValue`` inside a list removes the element (moto keeps a null).
- The Default of a CommaDelimitedList or List<...> parameter is a list, as a value given
  for it is (moto keeps the Default as text, so ``!Select [1, ...]`` picks a character).
- ``!GetAtt A.B.C`` is attribute ``B.C`` of ``A``: the short form splits at the first dot
  (moto splits at every dot and reads attribute ``B``).

Not modelled: ``secretsmanager`` references, public or cross-account parameters, labels.
"""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as moto_utils
from moto.cloudformation.exceptions import ValidationError
from moto.ssm import ssm_backends

_DYNAMIC = re.compile(r"\{\{resolve:(ssm|ssm-secure):([^}:]+)(?::(\d+))?\}\}")
_original_parse = parsing.parse_resource


def _resolve_dynamic(value: str, account_id: str, region: str) -> str:
    def one(match: re.Match) -> str:
        kind, name, version = match.group(1), match.group(2), match.group(3)
        current = ssm_backends[account_id][region].get_parameter(
            f"{name}:{version}" if version else name)  # fmt: skip
        if current is None:
            raise ValidationError(message=f"Parameters: [{kind}:{name}] cannot be found.")
        wanted = ("SecureString",) if kind == "ssm-secure" else ("String", "StringList")
        if current.parameter_type not in wanted:
            raise ValidationError(message=f"Parameters: [{kind}:{name}] is a "
                                          f"{current.parameter_type}, expected "
                                          f"{' or '.join(wanted)}.")  # fmt: skip
        return current.value

    return _DYNAMIC.sub(one, value)


def _cleaned(value: Any, account_id: str, region: str) -> Any:
    if isinstance(value, dict):
        return {k: _cleaned(v, account_id, region) for k, v in value.items()}
    if isinstance(value, list):
        # AWS::NoValue (None here) inside a list removes the element.
        return [_cleaned(v, account_id, region) for v in value if v is not None]
    if isinstance(value, str) and "{{resolve:" in value:
        return _resolve_dynamic(value, account_id, region)
    return value


def _parse_resource(resource_json: dict, resources_map) -> Any:
    parsed = _original_parse(resource_json, resources_map)
    if not parsed:
        return parsed
    resource_class, cleaned, resource_type = parsed
    account_id, region = resources_map._account_id, resources_map._region_name
    return resource_class, _cleaned(cleaned, account_id, region), resource_type


_original_load_parameters = parsing.ResourceMap.load_parameters


def _load_parameters(self) -> None:
    """moto splits list parameters given by the caller but not their Defaults; CloudFormation
    splits both (CommaDelimitedList, List<...>)."""
    _original_load_parameters(self)
    for name, spec in (self._template.get("Parameters") or {}).items():
        kind = spec.get("Type", "String")
        value = self.resolved_parameters.get(name)
        if isinstance(value, str) and (kind == "CommaDelimitedList" or kind.startswith("List<")):
            self.resolved_parameters[name] = value.split(",")
            self._parsed_resources[name] = self.resolved_parameters[name]


def _yaml_tag_constructor(loader, tag: str, node):
    """YAML short forms as CloudFormation reads them; ``!GetAtt A.B.C`` is A's attribute
    B.C (split at the first dot; moto splits at every dot)."""
    if tag == "!GetAtt" and isinstance(node.value, str):
        return {"Fn::GetAtt": node.value.split(".", 1)}
    return moto_utils.yaml_tag_constructor(loader, tag, node)


def install() -> None:
    cfn_models.yaml_tag_constructor = _yaml_tag_constructor
    cfn_responses.yaml_tag_constructor = _yaml_tag_constructor
    parsing.ResourceMap.load_parameters = _load_parameters
    parsing.parse_resource = _parse_resource
