"""`golden infra outputs ENV [--write]`: the foundation stack's outputs against the settings.

The comparison is autoscaling.foundation's (the same `golden env plan` makes): names in
the settings are resolved in AWS first, so a settings file that names subnets by their
Name tag agrees with a stack that outputs their IDs. --write puts the stack's values
into the settings file for the keys that disagree (and foundation_stack), keeping the
file's comments, order and style (ruamel.yaml round trip); the diff is shown first.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from autoscaling import foundation
from autoscaling.aws import Clients
from autoscaling.settings import Environment
from golden.core.errors import ConfigError


def compare(env: Environment, clients: Clients, outputs: dict[str, str]) -> list[tuple]:
    """[(settings path, the settings' value, the stack's value)] where they disagree."""
    document = env.instance_document(env.roles[0])
    have = foundation.current(env.raw, document,
                              foundation.resolve_network(env, clients, env.roles))
    return foundation.disagreements(have, foundation.expected(outputs, env.roles))


# -- writing the settings file --------------------------------------------------------
def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a line; long flow mappings are put back below
    y.representer.add_representer(
        type(None), lambda r, _d: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return y


def _styled(old, value):
    """VALUE as a node in OLD's style (a flow list stays a flow list)."""
    if isinstance(value, list):
        seq = CommentedSeq(value)
        if old is None or (isinstance(old, CommentedSeq) and old.fa.flow_style()):
            seq.fa.set_flow_style()
        return seq
    return value


def _set(data: CommentedMap, path: tuple, value) -> None:
    node = data
    for key in path[:-1]:
        if node.get(key) is None:
            node[key] = CommentedMap()
            node[key].fa.set_flow_style()
        node = node[key]
    node[path[-1]] = _styled(node.get(path[-1]), value)


def _logical_lines(text: str) -> dict[str, list[str]]:
    """{a flow collection's lines joined into one: those lines} for every flow mapping or
    sequence the file spreads over several lines."""
    out: dict[str, list[str]] = {}
    lines = text.splitlines(keepends=True)
    index = 0
    while index < len(lines):
        depth = lines[index].count("{") + lines[index].count("[") - lines[index].count(
            "}") - lines[index].count("]")  # fmt: skip
        end = index
        while depth > 0 and end + 1 < len(lines):
            end += 1
            depth += lines[end].count("{") + lines[end].count("[") - lines[end].count(
                "}") - lines[end].count("]")  # fmt: skip
        if end > index:
            block = lines[index:end + 1]
            out[_normal("".join(block))] = block
        index = end + 1
    return out


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def updated_text(text: str, changes: list[tuple], stack: str) -> str:
    """TEXT (a settings file) with CHANGES [(path, value)] made and foundation_stack set to
    STACK; everything else as it was, comments and line breaks included."""
    y = _yaml()
    data = y.load(text)
    if not isinstance(data, CommentedMap):
        raise ConfigError("the settings file is not a mapping")
    if data.get("foundation_stack") != stack:
        keys = list(data.keys())
        # After region: the comments above later keys belong to them and stay there.
        at = keys.index("region") + 1 if "region" in keys else len(keys)
        data.insert(at, "foundation_stack", stack)
    for path, value in changes:
        _set(data, path, value)
    buffer = io.StringIO()
    y.dump(data, buffer)
    kept = _logical_lines(text)
    lines = []
    for line in buffer.getvalue().splitlines(keepends=True):
        lines += kept.get(_normal(line), [line])
    return "".join(lines)


def diff(path: Path, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True),
                                        after.splitlines(keepends=True),
                                        f"{path} (now)", f"{path} (from the stack)"))  # fmt: skip


def write(path: Path, changes: list[tuple], stack: str) -> str:
    """Write the settings file with CHANGES; returns the diff (empty: nothing to write)."""
    before = path.read_text(encoding="utf-8")
    after = updated_text(before, changes, stack)
    if after != before:
        path.write_text(after, encoding="utf-8")
    return diff(path, before, after)
