"""Settings files checked against a JSON Schema (schemas/*.schema.json, draft 2020-12) with
the jsonschema library: every error names the file, the dotted key and what was expected,
and the schema's defaults are filled in so later code never guesses.

The schema files are package data (autoscaling/schemas, which in a checkout is a link to
the repository's schemas/); a checkout without that link reads schemas/ directly."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from golden.core import provenance
from golden.core.errors import ConfigError

SCHEMA_DIRS = (Path(__file__).resolve().parent / "schemas", provenance.REPO / "schemas")

# YAML tells 2 from 2.0; JSON Schema's "integer" would take both, the settings only 2.
_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
}
# When one key breaks several rules, the most basic one is reported.
_RANK = {"type": 0, "required": 1, "additionalProperties": 2}

# A key's place in the document: mapping keys (str) and list indexes (int).
KeyPath = tuple


def schema_file(name: str) -> Path:
    """The schema file ``name`` (e.g. environment.schema.json); ConfigError when absent."""
    for folder in SCHEMA_DIRS:
        if (folder / name).is_file():
            return folder / name
    places = " or ".join(str(folder) for folder in SCHEMA_DIRS)
    raise ConfigError(f"{name}: not found in {places} (an incomplete installation?)")


@cache
def load_schema(name: str) -> dict:
    """The parsed schema file ``name``, read once per process."""
    return json.loads(schema_file(name).read_text(encoding="utf-8"))


def validate(data: Any, schema: dict, source: str) -> dict:
    """Check ``data`` (parsed YAML) against ``schema``; return it with the schema's
    defaults filled in (``data`` itself is left unchanged). Raises ConfigError
    ``"{source}: {dotted.key}: {expected}"`` for the first problem in key order."""
    found = problems(data, schema)
    if found:
        raise ConfigError(f"{source}: {found[0]}")
    return with_defaults(data, schema, schema)


def problems(data: Any, schema: dict) -> list[str]:
    """Every problem of ``data``, one per key, as ``"dotted.key: expected ..."``, sorted
    by key."""
    best: dict[KeyPath, tuple[int, str]] = {}
    for error in Validator(schema).iter_errors(data):
        rank = _RANK.get(str(error.validator), len(_RANK))
        for path, message in _messages(error, schema):
            if path not in best or rank < best[path][0]:
                best[path] = (rank, message)
    return [f"{dotted(path)}: {best[path][1]}" for path in sorted(best, key=_sort_key)]


def dotted(path: KeyPath) -> str:
    """("roles", "app", "subnets", 1) -> "roles.app.subnets[1]"; () -> "(top level)"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _sort_key(path: KeyPath) -> tuple:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in path)


def _messages(error: jsonschema.ValidationError, root: dict) -> Iterator[tuple[KeyPath, str]]:
    """(key, what was expected) for one jsonschema error; required and additionalProperties
    errors are about keys of the mapping they are reported on."""
    path, value, kind = tuple(error.absolute_path), error.instance, error.validator
    rule, schema = error.validator_value, error.schema
    if kind == "required":
        for key in (k for k in rule if k not in value):
            wanted = resolve(schema.get("properties", {}).get(key, {}), root)
            yield path + (key,), f"missing (expected {_type_words(wanted.get('type'))})"
    elif kind == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        for key in sorted((k for k in value if k not in known), key=str):
            yield path + (str(key),), f"unknown key (expected one of: {', '.join(known)})"
    elif kind == "type":
        words = _type_words(rule)
        shown = "" if words in ("a mapping", "a list") else f" {value!r}"
        yield path, f"expected {words}, got {_type_name(value)}{shown}"
    else:
        yield path, _value_message(error)


def _value_message(error: jsonschema.ValidationError) -> str:
    kind, rule, schema, value = error.validator, error.validator_value, error.schema, error.instance
    if kind == "enum":
        return f"expected one of {', '.join(map(str, rule))}, got {value!r}"
    if kind in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is None or high is None:
            bound = f"at least {low}" if high is None else f"at most {high}"
            return f"expected a value of {bound}, got {value!r}"
        return f"expected a value from {low} to {high}, got {value!r}"
    if kind in ("exclusiveMinimum", "exclusiveMaximum"):
        side = "more" if kind == "exclusiveMinimum" else "less"
        return f"expected a value {side} than {rule}, got {value!r}"
    if kind == "minItems":
        return f"expected at least {rule} item{'' if rule == 1 else 's'}"
    if kind == "pattern":
        expected = schema.get("patternErrorMessage") or f"expected text matching {rule}"
        return f"{expected}, got {value!r}"
    return f"expected {error.message}"


def _type_words(kind: Any) -> str:
    kinds = [kind] if isinstance(kind, str) else [k for k in kind or () if k != "null"]
    return " or ".join(_TYPE_WORDS.get(k, k) for k in kinds) or "a value"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def resolve(schema: dict, root: dict) -> dict:
    """``schema`` with a local ``$ref`` ("#/$defs/NAME") merged in (its own keys win)."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**resolve(target, root), **{k: v for k, v in schema.items() if k != "$ref"}}


def with_defaults(value: Any, schema: dict, root: dict) -> Any:
    """``value`` with every absent property that has a ``default`` set to it, in mappings
    at any depth. Closed mappings (additionalProperties false) come out in the schema's
    key order; others keep their own order."""
    schema = resolve(schema, root)
    props = schema.get("properties")
    if not isinstance(value, dict) or not props:
        return value
    if schema.get("additionalProperties") is False:
        keys = list(props)
    else:
        keys = list(value) + [k for k in props if k not in value]
    out = {}
    for key in keys:
        sub = resolve(props.get(key, {}), root)
        if key in value:
            out[key] = with_defaults(value[key], sub, root)
        elif "default" in sub:
            out[key] = with_defaults(copy.deepcopy(sub["default"]), sub, root)
    return out
