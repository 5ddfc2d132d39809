"""What the in-bake test run counts for a role is only tests that apply to that role.

scripts/provision.sh runs `pytest --hosts=local:// tests/image` inside every build and
reports `passed = tests - failures - errors - skipped` from the JUnit report; the bake
marks the image tested only when that count is above 0 with no failure
(golden.bake.marking.tests_passed). A test that does not apply to the role must be
deselected (a role marker) or skipped with a reason, never "pass" by returning early:
these tests collect the suite the way a build does, for every role, without Docker."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from golden.bake import marking

REPO = Path(__file__).resolve().parents[2]
IMAGE_TESTS = REPO / "tests" / "image"
ROLES = ("app", "chroma", "base")
ROLE_MARKERS = {"app": "app_role", "chroma": "chroma_role", "base": "base_role"}


def _collect(tmp_path: Path, role: str, marker: str) -> list[str]:
    """Node ids a build of ``role`` runs: the suite copied alone (as a build uploads it),
    collected with the build's options."""
    work = tmp_path / role / marker.replace(" ", "-")
    shutil.copytree(IMAGE_TESTS, work / "tests" / "image",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "GOLDEN_ROLE": role, "GOLDEN_PLATFORM": "aws"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
         "--hosts=local://", "-m", marker, "tests/image"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if "::" in line]


@pytest.mark.parametrize("role", ROLES)
def test_a_build_runs_only_tests_that_apply_to_its_role(tmp_path, role):
    built = _collect(tmp_path, role, "not image_leftovers")
    assert built, f"no image test would run for role {role}"
    ids = "\n".join(built)
    # The digests of the app's running images exist only on the app role.
    assert ("test_image_json_digests_match_running_images" in ids) == (role == "app")
    for other, marker in ROLE_MARKERS.items():
        if other == role:
            continue
        for path in IMAGE_TESTS.glob("test_*.py"):
            if f"pytestmark = pytest.mark.{marker}" in path.read_text():
                assert f"{path.name}::" not in ids, f"{path.name} ({marker}) ran for {role}"


def _test_functions(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
            "test_"
        ):
            yield node


def _own_nodes(function: ast.AST):
    """The nodes of ``function`` outside nested functions (a helper may return)."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def test_no_image_test_passes_by_returning_early():
    found = []
    for path in sorted(IMAGE_TESTS.glob("test_*.py")):
        for function in _test_functions(path):
            for node in _own_nodes(function):
                if isinstance(node, ast.Return):
                    found.append(f"{path.name}:{node.lineno} {function.name} returns early")
                skip = (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "skip"
                )
                if skip and not (node.args or node.keywords):
                    found.append(f"{path.name}:{node.lineno} {function.name} skips, no reason")
    assert not found, "an inapplicable test must be deselected by a role marker:\n" + "\n".join(
        found
    )


def test_an_empty_or_failed_run_never_marks_an_image_tested():
    assert not marking.tests_passed(None)
    assert not marking.tests_passed({"passed": 0, "failed": 0, "skipped": 12})
    assert not marking.tests_passed({"passed": 40, "failed": 1, "skipped": 0})
    assert marking.tests_passed({"passed": 1, "failed": 0, "skipped": 3})
