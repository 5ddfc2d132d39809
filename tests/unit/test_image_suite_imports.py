"""The image suite (tests/image) also runs inside every bake, in a venv holding only the
in-bake test tools (scripts/provision.sh installs wheelhouse/tests.txt: pytest,
pytest-testinfra, ssh-audit and what they need). A module-level import of anything else
(PyYAML, golden itself) breaks collection there, and with it every bake."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

from golden.core import locks
from golden.twin.wheelhouse import TEST_TOOLS

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "scripts" / "wheelhouse-requirements.txt"


def _in_bake_modules() -> set[str]:
    """Import names the in-bake venv provides: the standard library and the modules of
    the test tools' closure in the lock (names as this venv's distributions map them)."""
    needed = {locks.normalize(pin.name) for pin in locks.closure(locks.parse(LOCK.read_text()),
                                                                 TEST_TOOLS)}  # fmt: skip
    provided = {module for module, dists in importlib.metadata.packages_distributions().items()
                if any(locks.normalize(dist) in needed for dist in dists)}  # fmt: skip
    return set(sys.stdlib_module_names) | provided


def _module_level_imports(path: Path) -> set[str]:
    """Top-level names imported at module level (not inside a function: those run only
    where the suite is driven from the host)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_image_suite_imports_only_what_a_bake_installs():
    allowed = _in_bake_modules()
    assert {"pytest", "testinfra"} <= allowed
    wrong = {f"{path.relative_to(REPO)}: {name}"
             for path in sorted((REPO / "tests" / "image").glob("*.py"))
             for name in _module_level_imports(path) - allowed}  # fmt: skip
    assert not wrong, "imports the in-bake venv does not have:\n" + "\n".join(sorted(wrong))
