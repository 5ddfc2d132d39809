"""`golden bench image`: how long the image's own steps take on this machine.

Figures: base image build, fresh highstate, no-op highstate (the hotfix floor), and twin
container start to /healthz 200. A benchmark, not a test: it prints a table and the
targets beside it."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from golden.core import containers
from golden.core.shell import eprint, run, stream
from golden.twin import baseimage
from golden.twin import build as twin

TARGETS = {"noop_highstate_s": 15.0, "start_to_healthy_s": 10.0}
STEP = re.compile(r"^==> golden-provision \[(\d+)s\] (.*)$")


def step_durations(lines: list[str]) -> dict[str, float]:
    """Seconds between consecutive provision steps, keyed by the step's first word(s)."""
    marks = [(int(m.group(1)), m.group(2)) for m in map(STEP.match, lines) if m]
    durations = {}
    for (start, name), (end, _) in zip(marks, marks[1:], strict=False):
        durations[name.split(" (")[0]] = float(end - start)
    return durations


def run_bench(role: str = "app", *, rebuild_base: bool = True, port: int = 18090) -> list[dict]:
    rows: list[dict] = []
    if rebuild_base:
        result = baseimage.build(baseimage.BaseImageSpec(), force=True)
        rows.append({"figure": "base image build", "seconds": result["seconds"], "target": ""})
    image = twin.image_name(role)
    if containers.image_inspect(image) is None:
        twin.build(role)
    # Fresh and no-op highstate on a clean base container, through the provisioning path.
    archive = None
    if role == "app":
        from golden.twin import appimages

        archive = Path(appimages.build(out=str(twin.REPO / "build" / "images"))["archive"]["path"])
    staged = twin.stage(role, twin.REPO / "build" / f"bench-stage-{role}", archive)
    name = f"golden-bench-{uuid.uuid4().hex[:6]}"
    containers.network_ensure(twin.NETWORK, twin.SUBNET)
    run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            twin.NETWORK,
            *containers.SYSTEMD_RUN_FLAGS,
            baseimage.BaseImageSpec().resolved().name,
            "/sbin/init",
        ]
    )
    try:
        twin.wait_for_systemd(name)
        containers.copy_into(name, str(staged), twin.STAGE_REMOTE)
        eprint("fresh highstate (through scripts/provision.sh, no tests, no clean-up)")
        lines = stream(
            [
                "docker",
                "exec",
                name,
                "bash",
                f"{twin.STAGE_REMOTE}/provision.sh",
                "--role",
                role,
                "--platform",
                "twin",
                "--src",
                twin.STAGE_REMOTE,
                "--skip-tests",
                "--no-cleanup",
            ],
            tail_lines=10_000,
            on_line=lambda line: eprint(f"  {line}") if STEP.match(line) else None,
        )
        steps = step_durations(lines)
        rows.append({"figure": "fresh highstate", "seconds": steps.get("highstate"), "target": ""})
        eprint("no-op highstate")
        started = time.monotonic()
        run(
            [
                "docker",
                "exec",
                name,
                "/opt/salt/bin/salt-call",
                "--local",
                "--out=json",
                "state.highstate",
                "--retcode-passthrough",
            ],
            what="no-op highstate",
        )
        rows.append(
            {
                "figure": "no-op highstate",
                "seconds": round(time.monotonic() - started, 1),
                "target": f"<= {TARGETS['noop_highstate_s']:.0f}",
            }
        )
    finally:
        containers.remove_container(name)
    # A twin boots from launch-template user data with its stand-ins, as `make local` does.
    seed = None
    if role == "app":
        from golden.twin import localstack

        seed = str(localstack.start_standins(build_twin=False))
    spec = twin.TwinSpec(role=role, name=f"golden-bench-twin-{uuid.uuid4().hex[:6]}", port=port,
                         seed_dir=seed)
    try:
        up = twin.up(spec, wait=120)
        rows.append(
            {
                "figure": "container start to /healthz 200",
                "seconds": up["healthy_after_s"],
                "target": f"<= {TARGETS['start_to_healthy_s']:.0f}",
            }
        )
    finally:
        twin.down(spec.name)
    return rows
