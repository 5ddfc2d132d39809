"""What the load bench measures and shows, checked without docker: result parsing
(Locust CSV, wrk), medians, ratios (golden over the baseline and over the plan), the
rounds' p99 spread, targets, processes and memory, and table, CSV, report and plot
rendering with three layouts and with a subset."""

from __future__ import annotations

import csv
import io

import pytest
from golden.bench import meters, report, results
from golden.core.errors import OperationFailed

LOCUST_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
GET,/api/chat/stream,2,0,418.04,416.09,414.14,418.04,613.5,0.5767,0.0,420,420,420,420,420,420,420,420,420,420,420
GET,/api/search,7,1,39,37.97,33.03,42.25,391.28,2.0186,0.2,39,41,42,42,42,42,42,45,42,42,42
POST,/api/upload [1 MB],0,0,0,0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
,Aggregated,9,1,41,122.0,33.03,418.04,440.66,2.5954,0.2,41,42,42,410,420,420,420,420,420,420,420
"""  # noqa: E501

WRK_OUT = """\
Running 10s test @ http://127.0.0.1:18381/api/search?q=x
  2 threads and 50 connections
Requests/sec:    310.42
WRKJSON {"requests":3000,"duration_us":10000000,"connect":0,"read":2,"write":0,"status":100,"timeout":5,"p50":151161,"p90":236534,"p95":280523,"p99":786338,"max":1312253}
"""  # noqa: E501


# --- parsing results ------------------------------------------------------------------


def test_locust_csv_rows_become_route_stats_with_the_aggregate_as_all():
    rows = results.parse_locust_stats(LOCUST_CSV)
    assert [r.route for r in rows] == [
        "/api/chat/stream",
        "/api/search",
        "/api/upload [1 MB]",
        "ALL",
    ]
    search = results.route_of(rows, "/api/search")
    assert (search.requests, search.failures, search.p50_ms, search.p95_ms, search.p99_ms) == (
        7,
        1,
        39.0,
        42.0,
        45.0,
    )
    assert search.error_pct == pytest.approx(100 / 7)
    assert results.route_of(rows).rps == 2.6  # rounded to 2 decimals


def test_a_route_without_requests_has_no_percentiles_and_no_error_rate():
    upload = results.route_of(results.parse_locust_stats(LOCUST_CSV), "/api/upload [1 MB]")
    assert (upload.p50_ms, upload.p95_ms, upload.error_pct) == (None, None, 0.0)


def test_a_csv_from_something_else_is_refused_naming_the_missing_columns():
    with pytest.raises(OperationFailed, match="95%"):
        results.parse_locust_stats("Name,Request Count\n/x,1\n")


def test_wrk_result_counts_errors_and_timeouts_and_reports_good_throughput():
    stats = results.parse_wrk(WRK_OUT, "/api/search")
    assert stats.route == "/api/search"
    # 3000 completed + 5 timed out; errors = 2 read + 100 non-2xx + 5 timeouts.
    assert (stats.requests, stats.failures) == (3005, 107)
    # Only the answered-and-good requests count as throughput: (3000 - 100) / 10 s.
    assert stats.rps == 290.0
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms) == (151.2, 280.5, 786.3)


def test_wrk_output_without_the_result_line_is_an_error():
    with pytest.raises(OperationFailed, match="xff.lua"):
        results.parse_wrk("Requests/sec: 10\n", "/api/search")


# --- ratios, overhead, targets ----------------------------------------------------------


def test_ratio_is_golden_over_baseline_and_undefined_without_a_baseline():
    assert results.ratio(450.0, 300.0) == 1.5
    assert results.ratio(1.0, 0.0) is None
    assert results.ratio(None, 3.0) is None


def test_overhead_is_the_extra_latency_through_nginx_in_percent():
    assert results.overhead_pct(direct_ms=30.0, via_ms=31.5) == 5.0
    assert results.overhead_pct(direct_ms=30.0, via_ms=27.0) == -10.0
    assert results.overhead_pct(direct_ms=0.0, via_ms=1.0) is None


def _stats(rps, p50, p95, failures=0):
    return results.RouteStats("ALL", 1000, failures, rps, p50, p95, None)


def test_compare_gives_throughput_and_latency_ratios():
    out = results.compare(_stats(300.0, 150.0, 4000.0), _stats(480.0, 100.0, 800.0))
    assert out == {"throughput_ratio": 1.6, "p50_ratio": 0.67, "p95_ratio": 0.2,
                   "p99_ratio": None}  # fmt: skip
    p99 = results.compare(_round(900.0), _round(450.0))["p99_ratio"]
    assert p99 == 0.5


def _round(p99, rps=500.0, p95=300.0):
    return results.RouteStats("/api/search", 1000, 0, rps, 100.0, p95, p99)


def test_closed_compare_sets_golden_against_the_baseline_and_the_plan_at_200_conns():
    saturation = {
        "baseline": {50: _round(160.0, 560.0), 200: _round(7000.0, 580.0, 3400.0)},
        "plan": {50: _round(150.0, 850.0), 200: _round(4000.0, 880.0, 1500.0)},
        "golden": {50: _round(120.0, 890.0), 200: _round(3000.0, 920.0, 1200.0)},
    }
    out = results.closed_compare(saturation, (50, 200))
    assert out["connections"] == 200
    assert out["golden_over"]["baseline"]["throughput_ratio"] == 1.59  # 920 / 580
    assert out["golden_over"]["plan"] == {
        "throughput_ratio": 1.05, "p50_ratio": 1.0, "p95_ratio": 0.8, "p99_ratio": 0.75,
    }  # fmt: skip
    assert out["peak_rps"] == {"baseline": 580.0, "plan": 880.0, "golden": 920.0}


def test_closed_compare_without_200_uses_the_largest_count_and_skips_layouts_not_run():
    saturation = {"plan": {100: _round(90.0, 800.0)}, "golden": {100: _round(80.0, 880.0)}}
    out = results.closed_compare(saturation, (50, 100))
    assert out["connections"] == 100
    assert list(out["golden_over"]) == ["plan"]
    # Without golden there is nothing to set against the others.
    assert results.closed_compare({"plan": {200: _round(1.0)}}, (200,))["golden_over"] == {}


@pytest.mark.parametrize(
    "p99s, ok, worst_over_median",
    [
        ([600.0, 640.0, 700.0], True, 1.09),
        ([600.0, 640.0, 1280.0], True, 2.0),  # exactly 2x the median round: still stable
        ([600.0, 640.0, 1300.0], False, 2.03),  # one round above 2x the median round
        ([3100.0, 400.0, 380.0], False, 7.75),
        ([600.0, None, 640.0], False, 1.03),  # a round that answered nothing
        ([], None, None),  # not measured
    ],
)
def test_the_rounds_p99_is_stable_when_no_round_exceeds_twice_the_median_round(
    p99s, ok, worst_over_median
):
    out = results.round_spread(p99s, 2.0)
    assert out["ok"] is ok
    assert out["worst_over_median"] == worst_over_median


def test_compare_with_a_missing_run_gives_no_ratio_instead_of_failing():
    assert results.compare(None, _stats(480.0, 100.0, 800.0))["throughput_ratio"] is None


def _summary(**over):
    summary = {
        "think": {
            "golden": {
                "200": _stats(60.0, 30.0, 450.0),
                "400": _stats(120.0, 35.0, 2500.0, failures=3),
                "800": _stats(130.0, 900.0, 9000.0, failures=30),
            }
        },
        "saturation_compare": {
            "connections": 200,
            "golden_over": {
                "baseline": {"throughput_ratio": 1.6, "p95_ratio": 0.3, "p99_ratio": 0.4},
                "plan": {"throughput_ratio": 1.08, "p95_ratio": 0.9, "p99_ratio": 1.0},
            },
        },
        "saturation_rounds": {"golden": {"200": [_round(600.0), _round(650.0), _round(700.0)]}},
        "nginx_overhead": {"p50_overhead_pct": 4.0},
        "upload": {"golden": {"mib": 100, "seconds": 3.2, "ok": True}},
    }
    summary.update(over)
    return summary


def test_targets_pass_and_fail_on_the_measured_figures():
    checks = {c["figure"]: c["ok"] for c in report.evaluate(_summary())}
    assert checks["golden p95 at 200 users (errors)"] is True
    assert checks["golden p95 at 400 users (errors)"] is False  # p95 2.5 s over budget
    # Past 400 users the bench looks for the knee: no target, no verdict.
    assert "golden p95 at 800 users (errors)" not in checks
    assert checks["closed-loop throughput golden/baseline at 200 conns"] is True
    assert checks["closed-loop p95 golden/baseline"] is True
    assert checks["closed-loop throughput golden/plan at 200 conns"] is True
    assert checks["closed-loop p95 golden/plan"] is True
    assert checks["closed-loop p99 golden/plan"] is True  # no worse than the plan: passes
    assert checks["golden p99 per round at 200 conns (ms)"] is True
    assert checks["nginx overhead on p50 vs one replica"] is True
    assert checks["100 MiB upload through nginx"] is True


@pytest.mark.parametrize(
    "plan_ratios, failing",
    [
        ({"throughput_ratio": 1.04, "p95_ratio": 0.9, "p99_ratio": 0.9},
         "closed-loop throughput golden/plan at 200 conns"),
        ({"throughput_ratio": 1.2, "p95_ratio": 1.01, "p99_ratio": 0.9},
         "closed-loop p95 golden/plan"),
        ({"throughput_ratio": 1.2, "p95_ratio": 0.9, "p99_ratio": 1.3},
         "closed-loop p99 golden/plan"),
        ({"throughput_ratio": None, "p95_ratio": 0.9, "p99_ratio": 0.9},
         "closed-loop throughput golden/plan at 200 conns"),
    ],
)  # fmt: skip
def test_golden_must_beat_the_plan_by_five_percent_with_no_worse_tail(plan_ratios, failing):
    summary = _summary()
    summary["saturation_compare"]["golden_over"]["plan"] = plan_ratios
    checks = report.evaluate(summary)
    assert [c["figure"] for c in checks if c["figure"].startswith("closed") and not c["ok"]] == [
        failing
    ]


def test_one_golden_round_with_a_p99_above_twice_the_median_round_fails_the_stability_target():
    summary = _summary()
    summary["saturation_rounds"]["golden"]["200"] = [_round(600.0), _round(3100.0), _round(650.0)]
    (check,) = [c for c in report.evaluate(summary) if "per round" in c["figure"]]
    assert check["ok"] is False
    assert check["measured"] == "600, 3100, 650"
    assert check["target"] == "no round > 2x the median round"


def test_targets_of_layouts_or_parts_not_run_say_not_measured_instead_of_failing():
    summary = _summary(
        saturation_compare={
            "connections": 200,
            "golden_over": {"plan": {"throughput_ratio": 1.1, "p95_ratio": 0.8, "p99_ratio": 0.9}},
        },
        upload={},
    )
    del summary["nginx_overhead"]
    checks = {c["figure"]: c for c in report.evaluate(summary)}
    for figure in ("closed-loop throughput golden/baseline at 200 conns",
                   "closed-loop p95 golden/baseline", "nginx overhead on p50 vs one replica",
                   "100 MiB upload through nginx"):  # fmt: skip
        assert (checks[figure]["measured"], checks[figure]["ok"]) == ("not measured", None)
    assert checks["closed-loop throughput golden/plan at 200 conns"]["ok"] is True
    # No closed loop at all: every closed-loop target is "not measured", the rounds' too.
    del summary["saturation_compare"], summary["saturation_rounds"]
    checks = report.evaluate(summary)
    closed = [c for c in checks if "conns" in c["figure"] or "closed" in c["figure"]]
    assert len(closed) == 6 and {c["measured"] for c in closed} == {"not measured"}
    assert {c["ok"] for c in closed} == {None}


def test_any_error_at_200_users_fails_its_target_even_under_the_latency_budget():
    summary = _summary(think={"golden": {"200": _stats(60.0, 30.0, 450.0, failures=1)}})
    (check,) = [c for c in report.evaluate(summary) if "200 users" in c["figure"]]
    assert check["ok"] is False


def test_a_failed_or_slow_upload_and_a_low_ratio_fail_their_targets():
    summary = _summary(
        saturation_compare={
            "connections": 200,
            "golden_over": {"baseline": {"throughput_ratio": 1.2, "p95_ratio": 1.1}},
        },
        nginx_overhead={"p50_overhead_pct": 12.5},
        upload={"golden": {"mib": 100, "seconds": 12.0, "ok": True}},
    )
    failed = {c["figure"] for c in report.evaluate(summary) if not c["ok"]}
    assert {
        "closed-loop throughput golden/baseline at 200 conns",
        "closed-loop p95 golden/baseline",
        "nginx overhead on p50 vs one replica",
        "100 MiB upload through nginx",
    } <= failed
    summary["upload"] = {"golden": {"mib": 100, "seconds": 2.0, "ok": False}}
    assert not [c for c in report.evaluate(summary) if "upload" in c["figure"]][0]["ok"]


# --- rendering ------------------------------------------------------------------------


def _runs():
    return [
        {
            "target": "golden",
            "kind": "think",
            "load": 200,
            "routes": results.parse_locust_stats(LOCUST_CSV),
        }
    ]


def test_result_rows_carry_the_run_and_the_error_rate():
    rows = results.result_rows(_runs())
    search = next(r for r in rows if r["route"] == "/api/search")
    assert search["target"] == "golden" and search["load"] == 200
    assert search["errors"] == 1 and search["error_pct"] == 14.29


def test_csv_has_the_columns_in_order_and_blank_cells_for_missing_figures():
    text = report.rows_to_csv(results.result_rows(_runs()), results.RESULT_COLUMNS)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0].keys()) == list(results.RESULT_COLUMNS)
    upload = next(r for r in parsed if r["route"] == "/api/upload [1 MB]")
    assert upload["p95_ms"] == "" and upload["requests"] == "0"
    assert next(r for r in parsed if r["route"] == "ALL")["p99_ms"] == "420.0"


def test_table_is_markdown_with_aligned_columns_and_n_a_for_missing_figures():
    table = report.render_table(results.result_rows(_runs()), ("route", "requests", "p95_ms"))
    lines = table.splitlines()
    assert lines[0].startswith("| route") and lines[1].startswith("|---")
    assert len({len(line) for line in lines}) == 1  # every line as wide as the header
    upload = next(line for line in lines if "upload" in line)
    assert "n/a" in upload
    # Numbers are right-aligned (the separator marks it for Markdown too).
    assert lines[1].endswith(":|")


def test_table_of_nothing_says_so():
    assert report.render_table([]) == "(no rows)"


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "n/a"),
        (True, "yes"),
        (False, "NO"),
        (3.14159, "3.14"),
        (42.0, "42.0"),
        (1500.0, "1500"),
    ],
)
def test_numbers_are_formatted_for_reading(value, text):
    assert report.fmt(value) == text


# --- processes and memory -------------------------------------------------------------


@pytest.mark.parametrize(
    "cmdline, cls",
    [
        ("nginx: master process /usr/sbin/nginx -g daemon on;", "nginx"),
        ("nginx: worker process", "nginx"),
        ("/opt/venv/bin/python /opt/venv/bin/gunicorn -c /app/gunicorn.conf.py", "backend"),
        ("/opt/venv/bin/python /opt/venv/bin/uvicorn sample_backend.asgi:app", "backend"),
        ("/opt/venv/bin/python -m sample_frontend", "frontend"),
        ("/usr/bin/docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port 18380", "docker-proxy"),
        ("/usr/bin/dockerd -H fd://", "other"),
    ],
)
def test_processes_are_classified_by_their_part_of_the_layout(cmdline, cls):
    assert meters.classify_process(cmdline) == cls


def test_memory_summary_is_idle_peak_and_growth_per_class_in_mib():
    mib = 2**20
    samples = [
        {"nginx": 10 * mib, "backend": 200 * mib},
        {"nginx": 11 * mib, "backend": 230 * mib},
        {"nginx": 10 * mib, "backend": 210 * mib},
    ]
    out = meters.memory_summary(samples)
    assert out["backend"] == {"idle_mib": 200.0, "peak_mib": 230.0, "growth_mib": 30.0}
    assert out["nginx"]["growth_mib"] == 1.0
    assert meters.memory_summary([]) == {}


def test_descendants_follow_parent_links_from_the_roots_only():
    procs = {
        pid: meters.Proc(pid, ppid, 0, 0, "")
        for pid, ppid in [(1, 0), (10, 1), (11, 10), (12, 11), (20, 1), (30, 20)]
    }
    assert sorted(p.pid for p in meters.descendants(procs, [10])) == [10, 11, 12]
    assert meters.descendants(procs, [999]) == []


# --- repeated runs and CPU ------------------------------------------------------------


def test_median_of_runs_sums_counts_and_takes_median_latencies():
    runs = [
        results.RouteStats("/api/search", 100, 0, 90.0, 30.0, 60.0, 80.0),
        results.RouteStats("/api/search", 120, 1, 110.0, 28.0, 55.0, 70.0),
        results.RouteStats("/api/search", 40, 0, 30.0, 90.0, 400.0, 900.0),  # disturbed run
    ]
    out = results.median_stats(runs)
    assert (out.requests, out.failures) == (260, 1)
    assert (out.rps, out.p50_ms, out.p95_ms, out.p99_ms) == (90.0, 30.0, 60.0, 80.0)


def test_median_of_no_runs_is_an_error():
    with pytest.raises(ValueError):
        results.median_stats([])


def test_cpu_rows_give_cores_per_part_and_backend_cpu_per_answered_request():
    runs = [
        {
            "target": "golden",
            "kind": "closed",
            "load": 200,
            "host_busy_pct": 99.0,
            "cores": {"backend": 1.5, "nginx": 0.1, "generator": 0.05},
            "all": results.RouteStats("/api/search", 6000, 0, 600.0, 300.0, 800.0, 900.0),
        },
        {"target": "replica-direct", "kind": "overhead", "load": 8},  # no CPU figures
        {
            "target": "baseline",
            "kind": "think",
            "load": 200,
            "cores": {"backend": 0.2},
            "all": results.RouteStats("ALL", 0, 0, 0.0, None, None, None),
        },
    ]
    rows = report.cpu_rows(runs)
    assert [r["target"] for r in rows] == ["golden", "baseline"]
    assert rows[0]["backend_ms_per_req"] == 2.5  # 1.5 cores / 600 req/s
    assert rows[0]["frontend"] is None and rows[0]["nginx"] == 0.1
    assert rows[1]["backend_ms_per_req"] is None  # nothing answered: no per-request figure
    assert list(rows[0]) == list(report.CPU_COLUMNS)


def test_mean_cores_average_each_part_over_rounds_counting_a_missing_part_as_idle():
    out = results.mean_cores([{"backend": 1.0, "nginx": 0.1}, {"backend": 2.0}])
    assert out == {"backend": 1.5, "nginx": 0.05}
