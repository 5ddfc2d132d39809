"""The figures `golden bench load` measures: one RouteStats per route and run, read from
Locust's stats CSV and from the JSON line tests/load/xff.lua prints from wrk; medians of
repeated rounds, mean CPU, golden-over-baseline and golden-over-plan ratios, the spread
of the rounds' p99, and the flat result rows the tables and CSV are made of.

Pure: tests/load/locustfile.py imports this module inside Locust's gevent-patched
process."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from golden.core.errors import OperationFailed


@dataclass(frozen=True)
class RouteStats:
    route: str
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_pct(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0


ALL_ROUTES = "ALL"


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    raw = raw.strip()
    if raw in ("", "N/A", "nan"):
        return None
    return float(raw)


def parse_locust_stats(text: str) -> list[RouteStats]:
    """Rows of Locust's ``PREFIX_stats.csv``; its "Aggregated" row becomes route ``ALL``."""
    reader = csv.DictReader(io.StringIO(text))
    needed = {"Name", "Request Count", "Failure Count", "Requests/s", "50%", "95%", "99%"}
    missing = needed - set(reader.fieldnames or ())
    if missing:
        raise OperationFailed(f"locust stats CSV lacks columns {sorted(missing)}")
    rows = []
    for row in reader:
        name = row["Name"]
        rows.append(
            RouteStats(
                route=ALL_ROUTES if name == "Aggregated" else name,
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                rps=round(_number(row["Requests/s"]) or 0.0, 2),
                p50_ms=_number(row["50%"]) if int(row["Request Count"]) else None,
                p95_ms=_number(row["95%"]) if int(row["Request Count"]) else None,
                p99_ms=_number(row["99%"]) if int(row["Request Count"]) else None,
            )
        )
    return rows


WRK_MARK = "WRKJSON "


def parse_wrk(stdout: str, route: str) -> RouteStats:
    """The JSON line tests/load/xff.lua prints from wrk's done(): latencies in µs."""
    for line in stdout.splitlines():
        if line.startswith(WRK_MARK):
            data = json.loads(line[len(WRK_MARK) :])
            break
    else:
        raise OperationFailed("wrk printed no result line (is tests/load/xff.lua in use?)")
    requests = int(data["requests"])
    errors = sum(int(data[k]) for k in ("connect", "read", "write", "status", "timeout"))
    seconds = int(data["duration_us"]) / 1e6
    # Timed-out requests never complete: count them as requests that failed.
    total = requests + int(data["timeout"])

    def ms(key: str) -> float | None:
        return round(int(data[key]) / 1000, 1) if requests else None

    return RouteStats(
        route=route,
        requests=total,
        failures=errors,
        rps=round((requests - int(data["status"])) / seconds, 1) if seconds else 0.0,
        p50_ms=ms("p50"),
        p95_ms=ms("p95"),
        p99_ms=ms("p99"),
    )


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, 2)


def overhead_pct(direct_ms: float | None, via_ms: float | None) -> float | None:
    """How much slower the path through nginx is than the replica hit directly, in %."""
    if direct_ms is None or via_ms is None or direct_ms <= 0:
        return None
    return round(100.0 * (via_ms - direct_ms) / direct_ms, 1)


def route_of(rows: Iterable[RouteStats], route: str = ALL_ROUTES) -> RouteStats | None:
    return next((r for r in rows if r.route == route), None)


def median_stats(runs: Sequence[RouteStats]) -> RouteStats:
    """One figure from repeated runs of the same route: sums of counts, medians of rates
    and latencies (robust to one run disturbed by other work on the machine)."""
    if not runs:
        raise ValueError("median_stats needs at least one run")

    def med(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 1) if values else None

    return RouteStats(
        route=runs[0].route,
        requests=sum(r.requests for r in runs),
        failures=sum(r.failures for r in runs),
        rps=med([r.rps for r in runs]),
        p50_ms=med([r.p50_ms for r in runs]),
        p95_ms=med([r.p95_ms for r in runs]),
        p99_ms=med([r.p99_ms for r in runs]),
    )


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the figures that were measured (None ones left out), or None."""
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 2) if values else None


def mean_cores(samples: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Cores per part of the layout, averaged over rounds of equal length."""
    parts = sorted({part for sample in samples for part in sample})
    return {part: mean(sample.get(part, 0.0) for sample in samples) for part in parts}


def compare(baseline: RouteStats | None, golden: RouteStats | None) -> dict:
    """Golden over another layout (``baseline``: the seed's or the plan's): throughput
    ratio (higher is better) and p50/p95/p99 ratios (lower is better); None where either
    figure is missing."""
    b = baseline or RouteStats("", 0, 0, 0.0, None, None, None)
    g = golden or RouteStats("", 0, 0, 0.0, None, None, None)
    return {
        "throughput_ratio": ratio(g.rps, b.rps),
        "p50_ratio": ratio(g.p50_ms, b.p50_ms),
        "p95_ratio": ratio(g.p95_ms, b.p95_ms),
        "p99_ratio": ratio(g.p99_ms, b.p99_ms),
    }


# The layouts golden is compared against, as the ratio table lists them.
REFERENCES = ("baseline", "plan")


def closed_compare(
    saturation: Mapping[str, Mapping[int, RouteStats]], connections: Sequence[int]
) -> dict:
    """The closed loop's comparison at the issue's 200 connections (the largest count
    when 200 was not run). ``saturation``: layout -> connections -> median RouteStats of
    the layouts measured. Returns {"connections": that count, "golden_over": reference
    layout -> compare(reference, golden) for each of REFERENCES measured beside golden,
    "peak_rps": layout -> best rps over the counts}."""
    ref = 200 if 200 in connections else max(connections)
    golden = saturation.get("golden", {}).get(ref)
    over = {
        name: compare(saturation[name].get(ref), golden)
        for name in REFERENCES
        if golden is not None and name in saturation
    }
    return {
        "connections": ref,
        "golden_over": over,
        "peak_rps": {n: max(s.rps for s in v.values()) for n, v in saturation.items() if v},
    }


def round_spread(p99s: Sequence[float | None], limit: float) -> dict:
    """Whether the rounds' p99 (ms, one per round) are stable: no round above ``limit``
    times the median round. Returns {"median_ms", "worst_ms", "worst_over_median", "ok"};
    a round that answered nothing (None) makes it unstable, and no rounds at all give
    ok None (not measured)."""
    if not p99s:
        return {"median_ms": None, "worst_ms": None, "worst_over_median": None, "ok": None}
    measured = [v for v in p99s if v is not None]
    median = statistics.median(measured) if measured else None
    worst = max(measured) if measured else None
    spread = ratio(worst, median)
    ok = len(measured) == len(p99s) and spread is not None and spread <= limit
    return {"median_ms": median, "worst_ms": worst, "worst_over_median": spread, "ok": ok}


def result_rows(runs: Sequence[Mapping]) -> list[dict]:
    """Flatten runs (each with target, kind, load, its RouteStats and, for one round of
    the closed loop, its round number) into table rows."""
    rows = []
    for run in runs:
        for stats in run["routes"]:
            rows.append(
                {
                    "target": run["target"],
                    "kind": run["kind"],
                    "load": run["load"],
                    "route": stats.route,
                    "requests": stats.requests,
                    "rps": stats.rps,
                    "p50_ms": stats.p50_ms,
                    "p95_ms": stats.p95_ms,
                    "p99_ms": stats.p99_ms,
                    "errors": stats.failures,
                    "error_pct": round(stats.error_pct, 2),
                    "round": run.get("round"),
                }
            )
    return rows


RESULT_COLUMNS = (
    "target",
    "kind",
    "load",
    "route",
    "requests",
    "rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "errors",
    "error_pct",
    "round",
)
# The report's tables: the round number is blank there (they show medians and runs).
TABLE_COLUMNS = RESULT_COLUMNS[:-1]
