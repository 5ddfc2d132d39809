"""An optional pillar key set to null means the formula's default (the pillar schema's
contract): each role's highstate renders the same whether such a key is left out or set
to null. Every nullable key of the schema that the shipped pillar leaves out is set to
null at once; inside app:services a null keeps its own meaning (`port: null`: a
background worker) and is checked in test_app_services.py."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from .conftest import REPO

SCHEMA = json.loads((REPO / "schemas" / "pillar.schema.json").read_text())
# Their nulls mean something other than "the default" (see the schema's descriptions).
OWN_MEANING = (("app", "services"),)


def _nullable_leaves(node: dict, path: tuple = ()) -> list[tuple]:
    """Paths of the schema's nullable keys that have no nullable key below them; keys
    under a pattern (additionalProperties) are left out: they name no fixed key."""
    found = []
    for key, child in (node.get("properties") or {}).items():
        below = _nullable_leaves(child, path + (key,))
        types = child.get("type")
        if below:
            found += below
        elif isinstance(types, list) and "null" in types:
            found.append(path + (key,))
    return found


def _is_set(pillar: dict, path: tuple) -> bool:
    node = pillar
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _with_nulls(tmp_path, paths: list[tuple]):
    """A copy of the shipped pillar plus a file, matched for every minion, setting each
    of ``paths`` to null."""
    root = tmp_path / "pillar-nulls"
    shutil.copytree(REPO / "pillar", root)
    nulls: dict = {}
    for path in paths:
        node = nulls
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = None
    (root / "nulls.sls").write_text(yaml.safe_dump(nulls))
    top = root / "top.sls"
    top.write_text(top.read_text().replace("    - common\n", "    - common\n    - nulls\n", 1))
    return root


def _unset_nullable_keys(minion) -> list[tuple]:
    pillar = minion.pillar()
    return [
        path for path in _nullable_leaves(SCHEMA)
        if not any(path[: len(own)] == own for own in OWN_MEANING)
        and not _is_set(pillar, path)
    ]  # fmt: skip


@pytest.mark.parametrize("role", ["app", "chroma"])
def test_a_null_optional_key_renders_as_the_formulas_default(minion_factory, tmp_path, role):
    shipped = minion_factory(role, "aws", "Debian")
    paths = _unset_nullable_keys(shipped)
    # The check means something only if it covers the formulas' settings.
    assert {("base", "apt_retries"), ("nginx", "api_burst"), ("docker", "log_max_size")} <= set(
        paths
    ), paths
    nulled = minion_factory(role, "aws", "Debian", pillar_root=_with_nulls(tmp_path, paths))
    # The keys are there, null, in the pillar the highstate reads ...
    pillar = nulled.pillar()
    assert pillar["base"]["apt_retries"] is None
    # ... and the highstate is the one it renders without them.
    assert nulled.show_lowstate() == shipped.show_lowstate()
