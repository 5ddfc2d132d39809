"""`golden bench bake`: local bake times, one stage against two.

One stage bakes a role from the OS image. Two stages bake the base role once (OS, Docker,
Salt, CloudWatch agent), then the role from the newest tested base (`--from-base`), which
is what a release bake would run. Every figure is the wall time of a real `golden bake
--target local` (validate, Packer build with the in-image tests, marking). A benchmark, not
a test: it prints a table."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from golden.bake import build as bake
from golden.core.errors import ConfigError
from golden.core.shell import eprint

ROLES = ("app", "chroma")
REPOSITORY = "golden-benchbake/{role}"
CONTAINER_PREFIX = "golden-benchbake-"


def plan(roles: Sequence[str]) -> list[tuple[str, bool]]:
    """The bakes in order, as (role, from_base): the base first so each role's two-stage
    bake finds it; each role's one-stage bake beside its two-stage one."""
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        raise ConfigError(f"--role: expected some of {', '.join(ROLES)}, got {list(roles)}")
    steps: list[tuple[str, bool]] = [("base", False)]
    for role in roles:
        steps += [(role, False), (role, True)]
    return steps


def table(seconds: dict[tuple[str, bool], float]) -> list[dict]:
    """Rows per role: one stage, the base, the role from the base, and what the second
    stage saves on every release bake compared with one stage."""
    base = seconds[("base", False)]
    rows = []
    for role in [r for r in ROLES if (r, False) in seconds]:
        one, from_base = seconds[(role, False)], seconds[(role, True)]
        rows.append({
            "role": role,
            "one stage s": round(one, 1),
            "base s": round(base, 1),
            "role from base s": round(from_base, 1),
            "two stages total s": round(base + from_base, 1),
            "release bake saved": f"{one - from_base:.0f} s ({(one - from_base) / one:.0%})",
        })  # fmt: skip
    return rows


def _ensure_inputs(roles: Sequence[str]) -> None:
    """What the bakes stage, built (or found unchanged) the way `golden twin build` does."""
    from golden.twin import appimages, baseimage, chromaimage, wheelhouse
    from golden.twin import build as twin

    base = baseimage.build(baseimage.BaseImageSpec())["image"]
    wheelhouse.build(str(twin.REPO / "build" / "wheelhouse"))
    if "app" in roles:
        appimages.build(base=base, out=str(twin.REPO / "build" / "images"),
                        wheelhouse=str(twin.REPO / "build" / "wheelhouse-sample"))  # fmt: skip
    if "chroma" in roles:
        chromaimage.build(base=base, out=str(twin.REPO / "build" / "images"),
                          wheelhouse=str(twin.REPO / "build" / "wheelhouse-chroma"))  # fmt: skip


def _remove(records: list[dict]) -> None:
    # Children before parents: a role baked from the base depends on the base's layers.
    for record in reversed(records):
        refs = list(record.get("tested_marks") or [])
        image_id = (record.get("artifacts") or {}).get("image_id")
        subprocess.run(["docker", "rmi", *refs, *([image_id] if image_id else [])],
                       capture_output=True, timeout=300)  # fmt: skip


def run_bench(
    roles: Sequence[str] = ROLES,
    *,
    repo: Path,
    repository: str = REPOSITORY,
    container_prefix: str = CONTAINER_PREFIX,
    keep: bool = False,
    dry_run: bool = False,
) -> dict:
    steps = plan(roles)
    if "{role}" not in repository:
        raise ConfigError(f"--repository {repository!r}: must contain {{role}}")

    def where(role: str, from_base: bool) -> str:
        # Its own repository per kind of bake: a tag moved by the next bake would leave
        # the previous tested image behind untagged.
        return repository.format(role=f"{role}-from-base" if from_base else role)

    if dry_run:
        return {"dry_run": True, "bakes": [
            {"role": role, "from_base": from_base, "repository": where(role, from_base)}
            for role, from_base in steps]}  # fmt: skip
    _ensure_inputs(roles)
    seconds: dict[tuple[str, bool], float] = {}
    records: list[dict] = []
    try:
        for role, from_base in steps:
            label = f"{role}{' from base' if from_base else ''}"
            eprint(f"bench bake: {label}")
            name = f"{container_prefix}{role}-{uuid.uuid4().hex[:6]}"
            request = bake.BakeRequest(
                role=role, target="local", from_base=from_base,
                local_repository=where(role, from_base),
                variables={"twin_run_extra_args": f'["--name", "{name}"]'},
            )  # fmt: skip
            started = time.monotonic()
            record = bake.bake(request, repo=repo)
            seconds[(role, from_base)] = time.monotonic() - started
            records.append(record)
            eprint(f"bench bake: {label} took {seconds[(role, from_base)]:.0f}s")
    finally:
        if not keep:
            _remove(records)
    return {
        "rows": table(seconds),
        "bakes": [
            {
                "role": r["role"],
                "id": r["id"],
                "record": r.get("record_path"),
                "from_base": bool((r.get("provenance") or {}).get("base")),
                "tests": r.get("tests"),
            }
            for r in records
        ],  # fmt: skip
    }
