"""Decisions of `golden hotfix` and `golden drift`, as pure functions over plain data:
rate-control values, the command an instance runs, which instances a probe cleared, the
per-instance table, whether the run succeeded, and what to remind the operator of.
No AWS, git or subprocess calls here."""

from __future__ import annotations

import re
import shlex

from golden.core.errors import ConfigError
from golden.hotfix import results as hotfix_result

# SSM's own patterns (botocore's model for SendCommand).
MAX_CONCURRENCY = re.compile(r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$")
MAX_ERRORS = re.compile(r"^([1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%)$")
GOLDEN = "/opt/salt/bin/golden"
KEY_PREFIX = "golden/hotfix"
MAX_INSTANCE_IDS = 50
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")
UNREACHED = ("Undeliverable", "Delivery Timed Out")
# Tags on instances: which bundle a hotfix applied (or failed to apply).
TAG_SHA = "golden:hotfix-sha256"
TAG_COMMIT = "golden:hotfix-commit"
TAG_TIME = "golden:hotfix-time"
TAG_FAILED = "golden:hotfix-failed-sha256"


def rate(value: str, flag: str, *, errors: bool = False) -> str:
    """A MaxConcurrency / MaxErrors value as SSM accepts it, or ConfigError naming the flag."""
    value = str(value).strip()
    pattern = MAX_ERRORS if errors else MAX_CONCURRENCY
    if not pattern.match(value):
        expected = (
            "a count (0 or more) or a percentage like 25%"
            if errors
            else ("a count (1 or more) or a percentage like 25%")
        )
        raise ConfigError(f"{flag}: expected {expected}, got {value!r}")
    return value


def bundle_key(sha256: str) -> str:
    return f"{KEY_PREFIX}/{sha256}.tar.gz"


def apply_argv(url: str, sha256: str, *, test: bool) -> list[str]:
    argv = [GOLDEN, "instance", "hotfix", "--bundle", url, "--sha256", sha256, "--json"]
    return argv + (["--test"] if test else [])


REVERT_ARGV = [GOLDEN, "instance", "hotfix", "--revert", "--json"]
PROBE_ARGV = [GOLDEN, "instance", "hotfix", "--status", "--json"]
DRIFT_ARGV = [GOLDEN, "instance", "drift", "--json"]


def shell_script(argv: list[str]) -> list[str]:
    """AWS-RunShellScript's `commands`: POSIX sh, every argument quoted."""
    return ["set -eu", "exec " + shlex.join(argv)]


def in_service(group: dict) -> list[str]:
    """The group's instances that serve traffic (not Pending, Terminating, Standby...)."""
    return sorted(
        i["InstanceId"]
        for i in group.get("Instances", [])
        if i.get("LifecycleState") == "InService"
    )


def check_fleet_size(instance_ids: list[str], group: str) -> None:
    if not instance_ids:
        raise ConfigError(f"group {group} has no InService instance: nothing to do")
    if len(instance_ids) > MAX_INSTANCE_IDS:
        raise ConfigError(
            f"group {group} has {len(instance_ids)} InService instances; one Run "
            f"Command names at most {MAX_INSTANCE_IDS} (run per subset)"
        )


def probe_verdicts(invocations: dict[str, dict]) -> tuple[list[str], dict, dict]:
    """From the status probe: (ready ids, {id: why it cannot hotfix}, {id: unreached}).

    An instance that ran the probe and failed lacks `golden instance hotfix` (an image
    older than hotfixes, or another role); one the command never reached is left out and
    reported, like SSM does."""
    ready, lacking, unreached = [], {}, {}
    for instance_id, inv in sorted(invocations.items()):
        details = inv.get("StatusDetails") or inv.get("Status")
        if details == "Success":
            ready.append(instance_id)
        elif details in UNREACHED:
            unreached[instance_id] = details
        elif (inv.get("Status") or details) not in TERMINAL:
            unreached[instance_id] = f"no answer yet ({details or 'not listed'})"
        else:
            text = (
                inv.get("StandardErrorContent") or inv.get("StandardOutputContent") or ""
            ).strip()
            code = inv.get("ResponseCode")
            lacking[instance_id] = (
                f"{details} (exit {code}): {text.splitlines()[-1][:200] if text else 'no output'}"
            )
    return ready, lacking, unreached


def _short(value: str | None, n: int = 12) -> str:
    return (value or "")[:n]


def sent_bundle_problem(record: dict, sent_sha256: str | None, *, test: bool) -> str | None:
    """Why an instance's record does not show the bundle it was sent (None when it does,
    or when nothing was sent: revert, drift). An apply must report the sent bundle as the
    tree now in place; a test run must report it as the bundle it checked. Anything else
    (another tree, no sha at all) means the instance did not do what it was asked."""
    if not sent_sha256:
        return None
    if test:
        reported = (record.get("bundle") or {}).get("sha256")
        what = "checked bundle"
    else:
        reported = (record.get("tree") or {}).get("bundle_sha256")
        what = "reported tree"
    if reported == sent_sha256:
        return None
    return f"{what} {_short(reported) or 'none'}, not the bundle sent ({_short(sent_sha256)})"


def row(
    instance_id: str,
    inv: dict,
    *,
    drift: bool = False,
    sent_sha256: str | None = None,
    test: bool = False,
) -> dict:
    """One line of the per-instance table from GetCommandInvocation's answer.
    ``sent_sha256``: the bundle the instance was sent (apply, or ``test``); a record that
    does not show it is a failure of that instance, whatever its exit status."""
    status = inv.get("StatusDetails") or inv.get("Status") or "?"
    record = hotfix_result.from_stdout(inv.get("StandardOutputContent") or "")
    out = {"instance": instance_id, "status": status}
    if record is None:
        note = {
            "Cancelled": "not run: the error limit (--max-errors) was reached",
            "Undeliverable": "command not delivered (SSM agent down or instance gone)",
            "Delivery Timed Out": "command not delivered in time",
        }.get(status)
        if note is None:
            text = (
                (inv.get("StandardErrorContent") or inv.get("StandardOutputContent") or "")
                .strip()
                .splitlines()
            )
            note = f"exit {inv.get('ResponseCode')}: {text[-1][:160]}" if text else "no output"
        out.update(
            {
                "changed": "-",
                "failed": "-",
                "duration": "-",
                "tree": "-",
                "result": "unknown",
                "note": note,
            }
        )
        if drift:
            out["drifted"] = None
        return out
    states = record.get("states") or {}
    tree = record.get("tree") or {}
    failed_ids = [s.get("id", "?") for s in record.get("failed") or []]
    note = ""
    mismatch = sent_bundle_problem(record, sent_sha256, test=test)
    result = "failed" if mismatch else record.get("result", "unknown")
    if failed_ids:
        note = "failed: " + ", ".join(failed_ids[:4]) + (" ..." if len(failed_ids) > 4 else "")
    elif mismatch:
        note = mismatch
    elif record.get("errors"):
        note = str(record["errors"][0])[:160]
    out.update(
        {
            "changed": states.get("changed", "-"),
            "failed": states.get("failed", "-"),
            "duration": f"{record.get('duration_s', 0):.1f}s",
            "tree": _short(tree.get("bundle_sha256")) or tree.get("name", "?"),
            "result": result,
            "note": note,
        }
    )
    if drift:
        changed = [s.get("id", "?") for s in record.get("changed") or []]
        out["drifted"] = bool(record.get("drifted"))
        out["states"] = ", ".join(changed[:6]) + (" ..." if len(changed) > 6 else "")
    return out


def succeeded(r: dict) -> bool:
    return r["status"] == "Success" and r.get("result") == "success"


def verdict(rows: list[dict], *, drift: bool = False) -> str:
    """'ok', 'failed' (an instance failed or was not reached) or, for drift, 'drifted'."""
    if not rows or not all(succeeded(r) for r in rows):
        return "failed"
    if drift and any(r.get("drifted") for r in rows):
        return "drifted"
    return "ok"


def counts(rows: list[dict]) -> dict:
    tally: dict[str, int] = {}
    for r in rows:
        tally[r["status"]] = tally.get(r["status"], 0) + 1
    return tally


def progress_line(instance_id: str, listing: dict, done: int, total: int) -> str:
    status = listing.get("StatusDetails") or listing.get("Status")
    return f"  [{done}/{total}] {instance_id}: {status}"


def bake_reminders(
    *,
    ref: str,
    commit: str,
    dirty: bool,
    main_ref: str,
    in_main: bool | None,
    ami: str | None,
    bake_revision: str | None,
    in_bake: bool | None,
) -> list[str]:
    """What the operator must still do so the next image carries this fix."""
    notes = []
    label = f"{ref} ({commit[:12]})" if ref and not ref.startswith(commit[:7]) else commit[:12]
    if dirty:
        notes.append(
            f"the bundle holds uncommitted changes on top of {commit[:12]}: no bake "
            f"contains them until they are committed and merged to {main_ref}"
        )
    elif in_main is None:
        notes.append(
            f"cannot tell whether {label} is on {main_ref} (no such branch here): "
            f"make sure the next bake includes it"
        )
    elif not in_main:
        notes.append(
            f"{label} is not on {main_ref}: the next bake (from {main_ref}) will "
            f"not contain this hotfix and its release would undo it; merge it"
        )
    if ami and not dirty:
        if in_bake is None:
            notes.append(
                f"the group launches {ami} (state tree {bake_revision or 'unknown'}), "
                f"which cannot be compared with {label}: new instances may start "
                f"without this hotfix until the next bake is released"
            )
        elif not in_bake:
            notes.append(
                f"the group launches {ami} (state tree {_short(bake_revision)}), "
                f"without this hotfix: instances it launches before the next bake "
                f"is released start without it"
            )
    return notes
