"""What `golden bench load` shows: its figures against the targets, Markdown tables (in a
terminal, pasteable into the README), the CSV, the PNG plot, the JSON summary's encoding,
the human-readable report and the dry run's plan.

Pure but for plot(), which writes the PNG (matplotlib is imported there, not here:
tests/load/locustfile.py imports this module for its tables inside Locust's
gevent-patched process)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from golden.bench.results import REFERENCES, TABLE_COLUMNS, RouteStats, ratio, round_spread
from golden.bench.workload import PARTS, Plan

# What the issue promises, checked against every run.
TARGETS = {
    "p95_ms": 2000.0,
    # Closed loop at 200 connections, golden over the seed's single uvicorn.
    "throughput_ratio": 1.5,
    # ... and over the plan's own layout, with p95 and p99 no worse than the plan's.
    "plan_throughput_ratio": 1.05,
    # No round of golden's closed loop with a p99 above this many times the median round's.
    "p99_round_spread": 2.0,
    "nginx_overhead_pct": 10.0,
    "upload_seconds": 10.0,
}
NOT_MEASURED = "not measured"
TARGET_MAX_USERS = 400


def fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def render_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """A Markdown table (readable in a terminal, pasteable into README); numbers right."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) is None for row in rows)
        for c in columns
    ]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if n else ("-" * (w + 2))
            for w, n in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(columns), rule, *(line(c) for c in cells)])


def rows_to_csv(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """CSV with empty cells for missing figures (not "n/a": spreadsheets read them as blank)."""
    columns = list(columns or (rows[0].keys() if rows else ()))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


CPU_COLUMNS = (
    "target",
    "kind",
    "load",
    "host_busy_pct",
    "backend",
    "nginx",
    "frontend",
    "docker-proxy",
    "generator",
    "backend_ms_per_req",
)


def cpu_rows(runs: Sequence[Mapping]) -> list[dict]:
    """Cores used per part of the layout during each run, and the backend's CPU time per
    answered request: a figure that holds when other work on the machine slows the run."""
    rows = []
    for run in runs:
        cores = run.get("cores")
        if not cores:
            continue
        stats = run.get("all")
        rps = stats.rps if isinstance(stats, RouteStats) else 0.0
        backend = cores.get("backend")
        rows.append(
            {
                "target": run["target"],
                "kind": run["kind"],
                "load": run["load"],
                "host_busy_pct": run.get("host_busy_pct"),
                **{part: cores.get(part) for part in CPU_COLUMNS[4:9]},
                "backend_ms_per_req": round(1000 * backend / rps, 2) if backend and rps else None,
            }
        )
    return rows


def evaluate(summary: Mapping) -> list[dict]:
    """The issue's targets against the measured figures: one row each (figure, measured,
    target, ok). A target whose layout or part was not run says "not measured" with ok
    None instead of failing; the think-time rows are there for the user counts run."""
    checks: list[dict] = []

    def add(figure: str, measured, target: str, ok: bool | None) -> None:
        checks.append({"figure": figure, "measured": measured, "target": target, "ok": ok})

    _think_checks(summary, add)
    _closed_checks(summary, add)
    oh = summary.get("nginx_overhead")
    pct = (oh or {}).get("p50_overhead_pct")
    add(
        "nginx overhead on p50 vs one replica",
        f"{fmt(pct)} %" if oh else NOT_MEASURED,
        f"<= {TARGETS['nginx_overhead_pct']:.0f} %",
        (pct is not None and pct <= TARGETS["nginx_overhead_pct"]) if oh else None,
    )
    up = (summary.get("upload") or {}).get("golden")
    mib = up.get("mib") if up else (summary.get("plan") or {}).get("upload_mb", 100)
    add(
        f"{mib} MiB upload through nginx",
        f"{fmt(up.get('seconds'))} s" if up else NOT_MEASURED,
        f"< {TARGETS['upload_seconds']:.0f} s",
        bool(up.get("ok") and up.get("seconds", 1e9) < TARGETS["upload_seconds"]) if up else None,
    )
    return checks


def _think_checks(summary: Mapping, add) -> None:
    think = summary.get("think", {})
    # The targets are at 200 and 400 users; larger counts look for the knee.
    for users in sorted(int(u) for u in think.get("golden", {}) if int(u) <= TARGET_MAX_USERS):
        stats = think["golden"][str(users)]
        p95 = stats.p95_ms if isinstance(stats, RouteStats) else stats.get("p95_ms")
        errors = stats.failures if isinstance(stats, RouteStats) else stats.get("failures")
        ok = p95 is not None and p95 < TARGETS["p95_ms"] and (users > 200 or errors == 0)
        add(
            f"golden p95 at {users} users (errors)",
            f"{fmt(p95)} ms ({errors})",
            "< 2000 ms" + (", 0 errors" if users <= 200 else ""),
            ok,
        )


# (reference layout, ratio, target text, test): golden over the reference, closed loop.
_CLOSED_TARGETS = (
    ("baseline", "throughput_ratio", f">= {TARGETS['throughput_ratio']}",
     lambda v: v >= TARGETS["throughput_ratio"]),
    ("baseline", "p95_ratio", "< 1.0", lambda v: v < 1.0),
    ("plan", "throughput_ratio", f">= {TARGETS['plan_throughput_ratio']}",
     lambda v: v >= TARGETS["plan_throughput_ratio"]),
    ("plan", "p95_ratio", "<= 1.0", lambda v: v <= 1.0),
    ("plan", "p99_ratio", "<= 1.0", lambda v: v <= 1.0),
)  # fmt: skip


def _closed_checks(summary: Mapping, add) -> None:
    sat = summary.get("saturation_compare") or {}
    conns = sat.get("connections", 200)
    over = sat.get("golden_over") or {}
    for ref, key, target, test in _CLOSED_TARGETS:
        figure = key.removesuffix("_ratio")
        figure = f"closed-loop {figure} golden/{ref}" + (
            f" at {conns} conns" if figure == "throughput" else ""
        )
        if ref not in over:
            add(figure, NOT_MEASURED, target, None)
            continue
        value = over[ref].get(key)
        add(figure, value, target, value is not None and test(value))
    rounds = (summary.get("saturation_rounds") or {}).get("golden", {}).get(str(conns)) or []
    p99s = [_p99(r) for r in rounds]
    spread = round_spread(p99s, TARGETS["p99_round_spread"])
    add(
        f"golden p99 per round at {conns} conns (ms)",
        ", ".join(fmt(v) for v in p99s) if p99s else NOT_MEASURED,
        f"no round > {TARGETS['p99_round_spread']:g}x the median round",
        spread["ok"],
    )


def _p99(stats) -> float | None:
    return stats.p99_ms if isinstance(stats, RouteStats) else stats.get("p99_ms")


def report(summary: Mapping) -> str:
    """The human-readable report: every table the bench measured (the parts it ran), the
    golden-over-baseline and golden-over-plan ratios, then the targets."""
    plan = summary["plan"]
    ran = plan.get("parts", PARTS)
    parts = [f"Layouts: {', '.join(plan.get('layouts', ()))}; parts: {', '.join(ran)}"]
    if "think" in ran:
        parts.append(
            f"## Think-time runs (Locust, uniform {plan['think_min']:g}-"
            f"{plan['think_max']:g} s between actions, {plan['think_seconds']} s measured "
            "after the ramp)"
        )
        parts.append(render_table(_rows(summary, "think"), TABLE_COLUMNS))
    if "closed" in ran:
        parts.append(
            "## Closed loop (wrk, no think time, GET /api/search; each layout at its "
            "container's address, as an ALB reaches an instance, without docker's 127.0.0.1 "
            "proxy; the median of the rounds)"
        )
        parts.append(render_table(_rows(summary, "closed"), TABLE_COLUMNS))
        parts.append("p99 (ms) and req/s of each round, in the order they ran:")
        parts.append(render_table(round_rows(summary.get("saturation_rounds") or {})))
    parts += _ratio_section(summary)
    oh = summary.get("nginx_overhead")
    if oh:
        parts.append(f"## nginx overhead ({oh['connections']} conns, wrk inside the twin's netns)")
        parts.append(
            render_table(
                [
                    {"path": "replica :8001 direct", **_lat(oh["direct_replica"])},
                    {"path": "nginx :80 (2 replicas)", **_lat(oh["via_nginx"])},
                ]
            )
        )
        parts.append(
            f"p50 overhead {fmt(oh['p50_overhead_pct'])} %, "
            f"p95 overhead {fmt(oh['p95_overhead_pct'])} %"
        )
    parts.append("## Boot, upload, CPU")
    parts.append(render_table(_misc_rows(summary), ("figure", "value")))
    cores_rows = cpu_rows(summary["runs"])
    if cores_rows:
        parts.append(
            "## CPU during each run (cores used; host_busy_pct is the whole machine, other "
            "engineers' builds included; backend_ms_per_req = backend CPU per answered request)"
        )
        parts.append(render_table(cores_rows, CPU_COLUMNS))
    machine = summary.get("machine", {})
    parts.append("## Targets")
    parts.append(render_table(summary.get("checks", []), ("figure", "measured", "target", "ok")))
    parts.append(
        f"CSV: {summary.get('csv')}\nplot: {summary.get('plot')}\n"
        f"wall time {summary.get('seconds')} s; load average (1, 5, 15 min) "
        f"{_loadavg(machine.get('loadavg_start'))} at the start, "
        f"{_loadavg(machine.get('loadavg_end'))} at the end on {machine.get('cpus')} CPUs"
    )
    return "\n\n".join(parts)


def _rows(summary: Mapping, kind: str) -> list[dict]:
    return [r for r in summary["rows"] if r["kind"] == kind]


def round_rows(rounds: Mapping[str, Mapping[str, Sequence]]) -> list[dict]:
    """One row per layout and connection count: each closed-loop round's p99 (ms) and
    req/s, in the order the rounds ran. ``rounds``: layout -> str(conns) -> RouteStats
    (or their dicts) per round."""
    rows = []
    for name, by_conns in rounds.items():
        for conns, measured in by_conns.items():
            stats = [_fields(m) for m in measured]
            rows.append(
                {
                    "target": name,
                    "conns": int(conns),
                    "p99_ms per round": ", ".join(fmt(s["p99_ms"]) for s in stats),
                    "rps per round": ", ".join(fmt(s["rps"]) for s in stats),
                }
            )
    return rows


def _fields(stats) -> Mapping:
    return asdict(stats) if isinstance(stats, RouteStats) else stats


def compare_rows(summary: Mapping) -> list[dict]:
    """Golden over each reference layout (REFERENCES) that ran beside it: one row per
    think-time user count and one for the closed loop's comparison count (in the users
    column), with the throughput, p95, p99 and /api/search p95 ratios."""
    think = summary.get("think", {})
    searches = summary.get("think_search", {})
    rows = []
    for ref in REFERENCES:
        for users, golden in think.get("golden", {}).items():
            other = think.get(ref, {}).get(users)
            if other is None:
                continue
            rows.append(
                {
                    "kind": "think",
                    "golden over": ref,
                    "users": int(users),
                    "throughput_ratio": ratio(golden.rps, other.rps),
                    "p95_ratio": ratio(golden.p95_ms, other.p95_ms),
                    "p99_ratio": ratio(golden.p99_ms, other.p99_ms),
                    "search_p95_ratio": _search_ratio(searches, users, ref),
                }
            )
    sat = summary.get("saturation_compare") or {}
    for ref, cmp in (sat.get("golden_over") or {}).items():
        rows.append(
            {
                "kind": "closed",
                "golden over": ref,
                "users": sat["connections"],
                "throughput_ratio": cmp["throughput_ratio"],
                "p95_ratio": cmp["p95_ratio"],
                "p99_ratio": cmp.get("p99_ratio"),
                "search_p95_ratio": cmp["p95_ratio"],
            }
        )
    return rows


def _ratio_section(summary: Mapping) -> list[str]:
    rows = compare_rows(summary)
    out = ["## Golden over baseline and plan"]
    if not rows:
        return [*out, "(golden and another layout did not run in the same part: no ratio)"]
    out.append(render_table(rows, tuple(rows[0])))
    out.append(
        "(think-time runs: throughput is set by the users and their think time, so its ratio "
        "is ~1 until one layout saturates; the closed loop compares capacity, and its users "
        "column is the connection count)"
    )
    peak = (summary.get("saturation_compare") or {}).get("peak_rps") or {}
    if peak:
        out.append(
            "saturation (best closed-loop rps): "
            + ", ".join(f"{name} {fmt(rps)}" for name, rps in peak.items())
        )
    return out


def _misc_rows(summary: Mapping) -> list[dict]:
    misc = [
        {"figure": f"{n} boot to healthy (s)", "value": v}
        for n, v in summary.get("boot_to_healthy_s", {}).items()
    ]
    if "golden_workers_per_replica" in summary:
        misc.append(
            {
                "figure": "golden gunicorn workers per replica",
                "value": summary.get("golden_workers_per_replica"),
            }
        )
    plan = summary.get("plan") or {}
    if "plan" in plan.get("layouts", ()):
        misc.append({"figure": "plan gunicorn workers (-w)", "value": plan.get("plan_workers")})
    for name, up in (summary.get("upload") or {}).items():
        misc.append({"figure": f"{name} {up['mib']} MiB upload (s)", "value": up.get("seconds")})
        for cls, mem in (up.get("memory") or {}).items():
            if cls in ("nginx", "backend"):
                misc.append(
                    {
                        "figure": f"{name} {cls} memory (PSS) idle -> peak (MiB)",
                        "value": f"{mem['idle_mib']} -> {mem['peak_mib']}",
                    }
                )
    return misc


def _search_ratio(searches: Mapping, users: str, ref: str = "baseline") -> float | None:
    golden = searches.get("golden", {}).get(users)
    other = searches.get(ref, {}).get(users)
    return ratio(golden.p95_ms, other.p95_ms) if golden and other else None


def _loadavg(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "n/a"


def _lat(stats: RouteStats) -> dict:
    return {
        "requests": stats.requests,
        "rps": stats.rps,
        "p50_ms": stats.p50_ms,
        "p95_ms": stats.p95_ms,
        "p99_ms": stats.p99_ms,
        "errors": stats.failures,
    }


def plan_preview(plan: Plan, ports: Mapping[str, int]) -> dict:
    """What `--dry-run` shows: {"plan": the plan's settings (layouts and parts among
    them), "measures": part -> the layouts it runs against (every part, [] for one not
    run), "estimated_seconds": its wall time rounded to the second, "ports": role ->
    127.0.0.1 port (twin, api, web, plan)}."""
    return {
        "plan": asdict(plan),
        "measures": {part: list(plan.part_layouts(part)) for part in PARTS},
        "estimated_seconds": round(plan.estimate_seconds()),
        "ports": ports,
    }


def render_plan_preview(preview: Mapping) -> str:
    """plan_preview() as a table of settings, what each part measures, ports and
    estimated wall time."""
    return render_table(
        [{"setting": k, "value": str(v)} for k, v in preview["plan"].items()]
        + [
            {"setting": f"part {part}", "value": ", ".join(names) or "not run"}
            for part, names in preview["measures"].items()
        ]
        + [
            {
                "setting": "ports (twin, baseline api, frontend, plan api)",
                "value": ", ".join(str(p) for p in preview["ports"].values()),
            },
            {
                "setting": "estimated wall time (s)",
                "value": str(preview["estimated_seconds"]),
            },
        ]
    )


def jsonable(value):
    """json.dumps' default= for the summary: a RouteStats becomes its fields plus its
    error_pct; anything else json cannot encode, its string."""
    if isinstance(value, RouteStats):
        return asdict(value) | {"error_pct": round(value.error_pct, 2)}
    return str(value)


def plot(summary: Mapping, path: Path, plan: Plan) -> Path:
    """Left: latency against users (think time), every layout. Right: the closed loop,
    throughput and p95 against connections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {
        "baseline": ("tab:red", "single uvicorn (baseline)"),
        "plan": ("tab:green", "plan: one gunicorn, uvicorn workers"),
        "golden": ("tab:blue", "golden: nginx + gunicorn"),
    }
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    for name, series in summary.get("think", {}).items():
        users = sorted(int(u) for u in series)
        color, label = styles.get(name, ("tab:gray", name))
        left.plot(users, [series[str(u)].p95_ms for u in users], "o-", color=color,
                  label=f"{label} p95")  # fmt: skip
        left.plot(users, [series[str(u)].p50_ms for u in users], "s--", color=color,
                  alpha=0.6, label=f"{label} p50")  # fmt: skip
        search = summary.get("think_search", {}).get(name, {})
        if all(search.get(str(u)) for u in users):
            left.plot(users, [search[str(u)].p95_ms for u in users], "d-.", color=color,
                      alpha=0.8, label=f"{label} /api/search p95")  # fmt: skip
    left.axhline(TARGETS["p95_ms"], color="black", linewidth=0.8, linestyle=":",
                 label="p95 budget 2 s")  # fmt: skip
    left.set_xlabel(f"concurrent users (think time {plan.think_min:g}-{plan.think_max:g} s)")
    left.set_ylabel("latency, all routes (ms, log scale)")
    left.set_yscale("log")
    left.set_xticks(sorted(plan.levels))
    left.set_title("Latency against users")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    twin_axis = right.twinx()
    for name, series in summary.get("saturation", {}).items():
        conns = sorted(int(c) for c in series)
        color, label = styles.get(name, ("tab:gray", name))
        right.plot(conns, [series[str(c)].rps for c in conns], "o-", color=color,
                   label=f"{label} req/s")  # fmt: skip
        twin_axis.plot(conns, [series[str(c)].p95_ms for c in conns], "^:", color=color,
                       alpha=0.7, label=f"{label} p95")  # fmt: skip
    right.set_xlabel("closed-loop connections (no think time), GET /api/search")
    right.set_ylabel("throughput (req/s)")
    twin_axis.set_ylabel("p95 (ms)")
    right.set_xticks(sorted(plan.saturation_connections))
    right.set_title("Saturation")
    right.grid(True, alpha=0.3)
    lines = right.get_legend_handles_labels()
    more = twin_axis.get_legend_handles_labels()
    right.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    fig.suptitle("Same machine, same workload, same sample app", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
