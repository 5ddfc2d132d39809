"""The rehearsal's scenarios, each run under load through the load balancer and judged on
what users and operators see: the command's exit code and message, the requests that
failed, the fleet afterwards.

a  good release: v2 replaces both v1 instances (min 100 %, max 150 %): exit 0, no failed
   request, and afterwards every answer comes from v2 (APP_RELEASE in /api/config);
b  bad image: v3 never passes its health checks: the refresh fails its health gate, AWS-
   style auto rollback returns the group to v2, `golden release` exits 4 naming it, no
   failed request;
c  alarm from real numbers: v4 answers 500 to a share of searches; the load balancer's
   own 5xx count, published as the ALB metric, fires the gating alarm: rollback, exit 4;
d  scale-out: desired + 1 launches the group's current version, which boots and joins
   the load balancer (then the group goes back to its size);
e  hotfix: `golden hotfix` over SSM Run Command runs inside every instance, which
   fetches the bundle from the emulator's S3 as on AWS, one instance at a time: exit 0,
   no failed request, each instance reports the tree sha it applied, drift 0 afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from golden.core.errors import OperationFailed
from golden.rehearsal import plan
from golden.rehearsal.traffic import FleetMonitor, Load, LoadSpec, failed_requests

VERSION_SAMPLES = 40


@dataclass
class Context:
    """What the scenarios act on; made by run.py once everything is up."""

    folder: Path
    settings: Path
    port: int
    amis: dict[str, str]
    clients: object  # autoscaling.aws.Clients for the emulator
    monitor: FleetMonitor
    users: int
    env: dict[str, str]
    say: Callable[[str], None]
    timeout: float = 600.0
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return f"{plan.PREFIX}-app"


def golden(ctx: Context, name: str, *args: str) -> subprocess.CompletedProcess:
    """Run a `golden` command as an operator would; its output is kept in the folder."""
    proc = subprocess.run(
        [sys.executable, "-m", "golden.cli", *args],
        capture_output=True, text=True, env=ctx.env, timeout=ctx.timeout, check=False,
    )  # fmt: skip
    log = ctx.folder / f"{name}.log"
    log.write_text(f"$ golden {' '.join(args)}\nexit {proc.returncode}\n{proc.stdout}\n"
                   f"{proc.stderr}")  # fmt: skip
    ctx.logs[name] = str(log)
    return proc


def fleet(ctx: Context) -> list[dict]:
    """InService instances: id, launch-template version, AMI."""
    asg = ctx.clients.autoscaling
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ctx.group])
    members = group["AutoScalingGroups"][0]["Instances"] if group["AutoScalingGroups"] else []
    ids = [m["InstanceId"] for m in members]
    images = {}
    if ids:
        for res in ctx.clients.ec2.describe_instances(InstanceIds=ids)["Reservations"]:
            images.update({i["InstanceId"]: i["ImageId"] for i in res["Instances"]})
    return [
        {"id": m["InstanceId"], "version": (m.get("LaunchTemplate") or {}).get("Version"),
         "ami": images.get(m["InstanceId"]), "state": m["LifecycleState"]}
        for m in members if m["LifecycleState"] == "InService"
    ]  # fmt: skip


def label_of(ctx: Context, ami: str | None) -> str:
    return next((k for k, v in ctx.amis.items() if v == ami), str(ami))


def releases(ctx: Context, instances: list[dict]) -> str:
    labels = sorted(label_of(ctx, i["ami"]) for i in instances)
    return f"{len(instances)} ({', '.join(labels) or 'none'})"


def sample_releases(port: int, count: int = VERSION_SAMPLES) -> dict[str, int]:
    """APP_RELEASE in /api/config of ``count`` answers through the load balancer, each as a
    different client address (nginx rate-limits per client)."""
    seen: dict[str, int] = {}
    for index in range(count):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/config",
            headers={"X-Forwarded-For": f"10.77.{index // 250}.{index % 250 + 1}",
                     "X-Forwarded-Proto": "https"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                body = json.loads(resp.read())
            label = (body.get("app") or {}).get("APP_RELEASE") or "(none)"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            label = f"error: {exc}"
        seen[label] = seen.get(label, 0) + 1
    return seen


def wait_fleet(ctx: Context, check: Callable[[list[dict]], bool], what: str, timeout=300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        instances = fleet(ctx)
        if check(instances):
            return instances
        time.sleep(2)
    raise OperationFailed(f"rehearsal: gave up after {timeout:.0f}s waiting for {what}")


def wait_healthy(ctx: Context, count: int, timeout: float = 300.0) -> None:
    """Until ``count`` targets are healthy in the balancer and nothing else is there."""
    arn = ctx.monitor.target_group_arn
    deadline = time.monotonic() + timeout
    states: dict = {}
    while time.monotonic() < deadline:
        states = ctx.monitor.balancer.target_health(arn)
        live = [s["State"] for s in states.values() if s["State"] != "draining"]
        if len(live) == count and all(s == "healthy" for s in live):
            return
        time.sleep(2)
    raise OperationFailed(
        f"rehearsal: {count} healthy targets expected after {timeout:.0f}s, have {states}"
    )


# -- the scenarios --------------------------------------------------------------------------
def _release(ctx: Context, name: str, label: str) -> subprocess.CompletedProcess:
    return golden(ctx, name, "release", str(ctx.settings), "--role", "app",
                  "--ami", ctx.amis[label], "--poll-min-seconds", "1",
                  "--poll-max-seconds", "3")  # fmt: skip


def good_release(ctx: Context) -> tuple[dict, list[str]]:
    proc = _release(ctx, "a-release", "v2")
    problems = [] if proc.returncode == 0 else [f"release exited {proc.returncode}"]
    wait_healthy(ctx, 2)
    seen = sample_releases(ctx.port)
    if set(seen) != {"v2"}:
        problems.append(f"answers after the release came from {seen}, expected only v2")
    return {"exit": proc.returncode, "answers after": seen}, problems


def bad_image(ctx: Context) -> tuple[dict, list[str]]:
    proc = _release(ctx, "b-release", "v3")
    problems = _rolled_back(ctx, proc, ("health",))
    return {"exit": proc.returncode}, problems


def alarm_rollback(ctx: Context) -> tuple[dict, list[str]]:
    proc = _release(ctx, "c-release", "v4")
    problems = _rolled_back(ctx, proc, ("alarm",))
    return {"exit": proc.returncode}, problems


def _rolled_back(ctx: Context, proc, words: tuple[str, ...]) -> list[str]:
    problems = []
    text = (proc.stdout + proc.stderr).lower()
    if proc.returncode != 4:
        problems.append(f"release exited {proc.returncode}, expected 4")
    if "rollback" not in text or not all(w in text for w in words):
        problems.append(f"the release's message does not name {' and '.join(words)} and the "
                        f"rollback (see {ctx.logs.get('b-release') or ctx.folder})")  # fmt: skip
    wait_healthy(ctx, 2)
    instances = fleet(ctx)
    if {label_of(ctx, i["ami"]) for i in instances} != {"v2"}:
        problems.append(f"after the rollback the group runs {releases(ctx, instances)}")
    return problems


def scale_out(ctx: Context) -> tuple[dict, list[str]]:
    asg = ctx.clients.autoscaling
    before = fleet(ctx)
    asg.set_desired_capacity(AutoScalingGroupName=ctx.group, DesiredCapacity=len(before) + 1)
    grown = wait_fleet(ctx, lambda f: len(f) == len(before) + 1, "the third instance")
    wait_healthy(ctx, len(before) + 1)
    new = [i for i in grown if i["id"] not in {b["id"] for b in before}]
    problems = []
    current = {b["version"] for b in before}
    if not new or new[0]["version"] not in current:
        problems.append(f"the new instance runs version {new and new[0]['version']}, "
                        f"expected the group's {sorted(current)}")  # fmt: skip
    asg.set_desired_capacity(AutoScalingGroupName=ctx.group, DesiredCapacity=len(before))
    wait_fleet(ctx, lambda f: len(f) == len(before), "the group to shrink back")
    wait_healthy(ctx, len(before))
    return {"new instance": new[0]["id"] if new else None}, problems


def hotfix(ctx: Context) -> tuple[dict, list[str]]:
    proc = golden(ctx, "e-hotfix", "hotfix", str(ctx.settings), "--role", "app",
                  "--allow-dirty", "--json", "--poll-seconds", "1")  # fmt: skip
    problems = [] if proc.returncode == 0 else [f"hotfix exited {proc.returncode}"]
    shas: dict[str, str] = {}
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = {}
        problems.append("hotfix --json printed no JSON")
    bundle = (result.get("bundle") or {}).get("sha256") or ""
    shas = {row.get("instance"): row.get("tree") for row in result.get("rows", [])}
    # The table shows the first 12 characters of the sha each instance reports applying.
    wrong = {i: s for i, s in shas.items() if not bundle or s != bundle[:12]}
    if wrong or len(shas) != len(fleet(ctx)):
        problems.append(f"instances report trees {shas}, the bundle sent was {bundle[:12]}")
    drift = golden(ctx, "e-drift", "drift", str(ctx.settings), "--role", "app", "--json")
    if drift.returncode != 0:
        problems.append(f"drift after the hotfix exited {drift.returncode} (drift found?)")
    return {"exit": proc.returncode, "trees": shas}, problems


RUNNERS = {
    "a": good_release,
    "b": bad_image,
    "c": alarm_rollback,
    "d": scale_out,
    "e": hotfix,
}
# Scenarios whose users must see no failed request (c serves errors on purpose).
ZERO_FAILURES = ("a", "b", "d", "e")


def run_scenario(ctx: Context, key: str) -> dict:
    """Run one scenario under load; its row for the table (and its problems)."""
    scenario = plan.SCENARIOS[key]
    ctx.say(f"rehearsal: scenario {key}: {scenario.title}")
    before = fleet(ctx)
    started = time.monotonic()
    with Load(LoadSpec(host=f"http://127.0.0.1:{ctx.port}", users=ctx.users), ctx.folder,
              key) as load:  # fmt: skip
        details, problems = RUNNERS[key](ctx)
        duration = time.monotonic() - started
    after = fleet(ctx)
    refreshes = ctx.clients.autoscaling.describe_instance_refreshes(
        AutoScalingGroupName=ctx.group
    )["InstanceRefreshes"]
    refresh = refreshes[0]["Status"] if refreshes and key in ("a", "b", "c") else "-"
    outcomes = load.outcomes
    classes = outcomes.get("classes") or {}
    failed = failed_requests(classes)
    if key in ZERO_FAILURES and failed:
        problems.append(f"{failed} request(s) failed: {classes}")
    if not outcomes:
        problems.append("the load generator wrote no outcomes")
    boots = ctx.monitor.launch_to_healthy(since=started)
    memory = ctx.monitor.memory()
    return {
        "scenario": f"{key}. {scenario.title}",
        "instances": f"{releases(ctx, before)} -> {releases(ctx, after)}",
        "refresh": refresh,
        "result": "pass" if not problems else "FAIL",
        "duration_s": round(duration),
        "requests": outcomes.get("requests", 0),
        "failed": failed,
        "429": classes.get("429", 0),
        "p95_ms": outcomes.get("p95_ms"),
        "launch_to_healthy_s": round(median(boots), 1) if boots else None,
        "memory_mib": round(median(memory)) if memory else None,
        "details": details,
        "problems": problems,
    }
