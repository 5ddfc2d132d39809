"""A small declarative checker for settings files: every error names the file, the dotted
key and what was expected, and defaults are filled in so later code never guesses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from golden.core.errors import ConfigError

_MISSING = object()


@dataclass
class F:
    """One field: ``kind`` is a Python type, a tuple of them, a nested ``dict`` spec, or
    ``[spec]`` for a list of items."""

    kind: Any
    required: bool = True
    default: Any = None
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    check: Callable[[Any], str | None] | None = None  # returns an error text or None
    nullable: bool = False
    extra: dict = field(default_factory=dict)


def opt(kind: Any, default: Any = None, **kw) -> F:
    return F(kind, required=False, default=default, **kw)


def _name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _expected(kind: Any) -> str:
    if isinstance(kind, dict):
        return "a mapping"
    if isinstance(kind, list):
        return "a list"
    if isinstance(kind, tuple):
        return " or ".join(_expected(k) for k in kind)
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        kind, kind.__name__
    )


def validate(data: Any, spec: dict, source: str, path: str = "") -> dict:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: {path or '(top level)'}: expected a mapping, got {_name(data)}"
        )
    unknown = sorted(set(map(str, data)) - set(spec))
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ConfigError(
            f"{source}: {where}: unknown key (expected one of: {', '.join(sorted(spec))})"
        )
    out: dict[str, Any] = {}
    for key, rule in spec.items():
        rule = rule if isinstance(rule, F) else F(rule)
        where = f"{path}.{key}" if path else key
        value = data.get(key, _MISSING)
        if value is _MISSING:
            if rule.required:
                raise ConfigError(f"{source}: {where}: missing (expected {_expected(rule.kind)})")
            out[key] = _default(rule)
            continue
        out[key] = _value(value, rule, source, where)
    return out


def _default(rule: F) -> Any:
    if isinstance(rule.kind, dict) and rule.default is None and not rule.nullable:
        return validate({}, rule.kind, "(defaults)")
    if isinstance(rule.default, (list, dict)):
        return type(rule.default)(rule.default)
    return rule.default


def _value(value: Any, rule: F, source: str, where: str) -> Any:
    if value is None and rule.nullable:
        return None
    kind = rule.kind
    if isinstance(kind, dict):
        return validate(value, kind, source, where)
    if isinstance(kind, list):
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {where}: expected a list, got {_name(value)}")
        item_rule = kind[0] if isinstance(kind[0], F) else F(kind[0])
        result = [_value(v, item_rule, source, f"{where}[{i}]") for i, v in enumerate(value)]
        if rule.check:
            _run_check(rule, result, source, where)
        return result
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = any(
        isinstance(value, k) and not (isinstance(value, bool) and k in (int, float)) for k in kinds
    )
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ConfigError(
            f"{source}: {where}: expected {_expected(kind)}, got {_name(value)} {value!r}"
        )
    if isinstance(value, str) and not value.strip():
        raise ConfigError(f"{source}: {where}: expected a non-empty string")
    if rule.choices is not None and value not in rule.choices:
        raise ConfigError(
            f"{source}: {where}: expected one of {', '.join(map(str, rule.choices))}, got {value!r}"
        )
    if rule.low is not None and value < rule.low or rule.high is not None and value > rule.high:
        raise ConfigError(
            f"{source}: {where}: expected a value from {rule.low} to {rule.high}, got {value!r}"
        )
    _run_check(rule, value, source, where)
    return value


def _run_check(rule: F, value: Any, source: str, where: str) -> None:
    if rule.check:
        problem = rule.check(value)
        if problem:
            raise ConfigError(f"{source}: {where}: {problem}")
