"""What the load bench's report shows with three layouts and with a subset, and how the
closed loop and the layouts' start-up are driven, checked without docker or wrk: the
report is made from plain figures, wrk and the docker calls are stood in for."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, replace

from golden.bench import report, results, workload


def _round(p99, rps=500.0, p95=300.0):
    return results.RouteStats("/api/search", 1000, 0, rps, 100.0, p95, p99)


# --- the report -----------------------------------------------------------------------

# (layout, think p95, closed rps, closed p95, backend cores) of the report's made-up runs.
_LAYOUT_FIGURES = {
    "baseline": (600.0, 500.0, 3000.0, 0.95),
    "plan": (450.0, 700.0, 800.0, 1.4),
    "golden": (400.0, 760.0, 600.0, 1.5),
}


def _full_summary(layouts=("baseline", "plan", "golden"), parts=workload.PARTS):
    """A summary as run_bench makes it, for ``layouts`` and ``parts``, from plain figures."""

    def s(rps, p95, route="ALL"):
        return results.RouteStats(route, 1000, 0, rps, p95 / 10, p95, p95 * 1.5)

    figures = {name: _LAYOUT_FIGURES[name] for name in layouts}
    think_runs = [
        {"target": t, "kind": "think", "load": 200,
         "routes": [s(60.0, f[0]), s(30.0, f[0] / 4, "/api/search")]}
        for t, f in figures.items()
    ] if "think" in parts else []  # fmt: skip
    rounds = {
        t: [s(f[1] * k, f[2] * k, "/api/search") for k in (1.0, 1.25, 0.75)]
        for t, f in figures.items()
    }
    round_runs = [
        {"target": t, "kind": "closed-round", "load": 200, "round": n, "routes": [r[n - 1]]}
        for n, t in workload.interleaved(tuple(figures), 3)
        for r in [rounds[t]]
    ]
    closed_runs = [
        {"target": t, "kind": "closed", "load": 200, "routes": [results.median_stats(rounds[t])],
         "cores": {"backend": f[3]}, "host_busy_pct": 90.0}
        for t, f in figures.items()
    ]  # fmt: skip
    if "closed" not in parts:
        round_runs = closed_runs = []
    runs = think_runs + round_runs + closed_runs
    plan = replace(workload.QUICK, layouts=tuple(layouts), parts=tuple(parts))
    summary = {
        "plan": asdict(plan),
        "machine": {"cpus": 2, "loadavg_start": (1.0, 2.0, 3.0), "loadavg_end": (1.5, 2.0, 3.0)},
        "think": {r["target"]: {"200": results.route_of(r["routes"])} for r in think_runs},
        "think_search": {
            r["target"]: {"200": results.route_of(r["routes"], "/api/search")} for r in think_runs
        },
        "boot_to_healthy_s": {name: 2.0 for name in layouts},
        "runs": [
            {k: v for k, v in r.items() if k != "routes"} | {"all": r["routes"][0]} for r in runs
        ],
        "rows": results.result_rows(runs),
        "seconds": 100.0,
        "csv": "results.csv",
        "plot": "plot.png",
    }
    if "closed" in parts:
        saturation = {r["target"]: {200: r["routes"][0]} for r in closed_runs}
        summary["saturation"] = {t: {"200": v[200]} for t, v in saturation.items()}
        summary["saturation_rounds"] = {t: {"200": r} for t, r in rounds.items()}
        summary["saturation_compare"] = results.closed_compare(saturation, (200,))
    if "golden" in layouts:
        summary["golden_workers_per_replica"] = 1
    if "nginx" in parts:
        summary["nginx_overhead"] = {
            "connections": 8,
            "direct_replica": s(280.0, 31.0, "/api/search"),
            "via_nginx": s(279.0, 32.0, "/api/search"),
            "p50_overhead_pct": 3.2,
            "p95_overhead_pct": 3.2,
        }
    if "upload" in parts:
        summary["upload"] = {
            "golden": {
                "mib": 100,
                "seconds": 0.6,
                "ok": True,
                "memory": {"backend": {"idle_mib": 400.0, "peak_mib": 402.0, "growth_mib": 2.0}},
            },
        }
    summary["checks"] = report.evaluate(summary)
    return summary


def _line(text, start):
    (line,) = [x for x in text.splitlines() if x.startswith(start)]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_report_shows_every_section_the_ratios_and_the_verdicts():
    text = report.report(_full_summary())
    for heading in ("## Think-time runs", "## Closed loop", "## Golden over baseline and plan",
                    "## nginx overhead", "## Boot, upload, CPU", "## CPU during each run",
                    "## Targets"):  # fmt: skip
        assert heading in text
    assert text.startswith("Layouts: baseline, plan, golden; parts: think, closed, nginx, upload")
    # Closed loop, medians: golden 760 req/s p95 600 ms, baseline 500 / 3000, plan 700 / 800.
    assert _line(text, "| closed | baseline") == [
        "closed", "baseline", "200", "1.52", "0.20", "0.20", "0.20"]  # fmt: skip
    assert _line(text, "| closed | plan") == [
        "closed", "plan", "200", "1.09", "0.75", "0.75", "0.75"]  # fmt: skip
    assert _line(text, "| think  | plan") == [
        "think", "plan", "200", "1.00", "0.89", "0.89", "0.89"]  # fmt: skip
    # Each round, in the order it ran: golden's p99 900, 1125, 675 ms.
    assert _line(text, "| golden   |   200") == ["golden", "200", "900, 1125, 675", "760, 950, 570"]
    assert "saturation (best closed-loop rps): baseline 500, plan 700, golden 760" in text
    assert _line(text, "| plan gunicorn workers (-w)") == ["plan gunicorn workers (-w)", "4"]
    assert "golden 100 MiB upload (s)" in text and "400.0 -> 402.0" in text
    assert "backend_ms_per_req" in text and "1.97" in text  # 1.5 cores / 760 req/s
    assert "wall time 100.0 s" in text
    verdicts = {c["figure"]: c["ok"] for c in _full_summary()["checks"]}
    assert verdicts["closed-loop throughput golden/plan at 200 conns"] is True  # 1.09
    assert verdicts["golden p99 per round at 200 conns (ms)"] is True


def test_report_of_the_closed_loop_alone_for_plan_and_golden():
    summary = _full_summary(layouts=("plan", "golden"), parts=("closed",))
    text = report.report(summary)
    assert text.startswith("Layouts: plan, golden; parts: closed")
    assert "## Closed loop" in text and "## Targets" in text
    for absent in ("## Think-time runs", "## nginx overhead", "| closed | baseline",
                   "| think ", "| baseline boot", "MiB upload (s)"):  # fmt: skip
        assert absent not in text
    assert _line(text, "| closed | plan")[:4] == ["closed", "plan", "200", "1.09"]
    # Only golden and the plan in the closed loop's tables.
    closed_rows = [r for r in summary["rows"] if r["kind"] == "closed"]
    assert [r["target"] for r in closed_rows] == ["plan", "golden"]
    checks = {c["figure"]: (c["measured"], c["ok"]) for c in summary["checks"]}
    assert checks["closed-loop throughput golden/baseline at 200 conns"] == ("not measured", None)
    assert checks["closed-loop p95 golden/plan"] == (0.75, True)
    assert "| closed-loop throughput golden/baseline at 200 conns | not measured" in text


def test_report_without_golden_has_no_ratio_and_no_closed_verdict():
    summary = _full_summary(layouts=("baseline", "plan"), parts=("think", "closed"))
    text = report.report(summary)
    assert "(golden and another layout did not run in the same part: no ratio)" in text
    assert {c["ok"] for c in summary["checks"]} == {None}


def test_the_plot_is_a_png_file(tmp_path):
    path = report.plot(_full_summary(), tmp_path / "p.png", workload.QUICK)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the closed loop and the layouts, with wrk and docker stood in for -------------------


def test_result_rows_and_csv_keep_each_closed_loop_rounds_number():
    runs = [
        {"target": "golden", "kind": "closed-round", "load": 200, "round": 2,
         "routes": [_round(700.0)]},
        {"target": "golden", "kind": "closed", "load": 200, "routes": [_round(650.0)]},
    ]  # fmt: skip
    rows = results.result_rows(runs)
    assert [(r["kind"], r["round"], r["p99_ms"]) for r in rows] == [
        ("closed-round", 2, 700.0), ("closed", None, 650.0),
    ]  # fmt: skip
    parsed = list(csv.DictReader(io.StringIO(report.rows_to_csv(rows, results.RESULT_COLUMNS))))
    assert [(r["round"], r["p99_ms"]) for r in parsed] == [("2", "700.0"), ("", "650.0")]


class _Meter:
    cores = {"backend": 1.0}
    host_busy_pct = 50.0


def test_the_closed_loop_interleaves_every_layout_each_round_and_keeps_every_round(
    monkeypatch, tmp_path
):
    from golden.bench import layouts, runner

    calls = []

    def fake_wrk(url, path, conns, seconds, **kw):
        calls.append((url, conns))
        # p99 grows with each call: round figures must come back in the order they ran.
        return _round(float(100 * len(calls)), rps=float(len(calls))), _Meter()

    monkeypatch.setattr(runner, "run_wrk", fake_wrk)
    targets = {
        name: layouts.Target(name=name, url=f"http://127.0.0.1:1/{name}",
                             direct_url=f"http://{name}")
        for name in ("baseline", "plan", "golden")
    }  # fmt: skip
    plan = replace(workload.Plan(), saturation_connections=(200,), saturation_seconds=30)
    runs = []
    out = runner._closed_loop(targets, plan, tmp_path / "wrk.log", 0.0, runs)
    assert calls == [(f"http://{n}", 200) for n in ("baseline", "plan", "golden")] * 3
    p99s = {n: [r.p99_ms for r in v["200"]] for n, v in out["saturation_rounds"].items()}
    assert p99s == {"baseline": [100.0, 400.0, 700.0], "plan": [200.0, 500.0, 800.0],
                    "golden": [300.0, 600.0, 900.0]}  # fmt: skip
    assert out["saturation"]["golden"]["200"].p99_ms == 600.0  # the median round
    assert set(out["saturation_compare"]["golden_over"]) == {"baseline", "plan"}
    kinds = [(r["kind"], r["target"], r.get("round")) for r in runs]
    assert kinds[:3] == [("closed-round", "baseline", 1), ("closed-round", "plan", 1),
                         ("closed-round", "golden", 1)]  # fmt: skip
    assert kinds[-3:] == [("closed", "baseline", None), ("closed", "plan", None),
                          ("closed", "golden", None)]  # fmt: skip


def test_only_the_selected_layouts_start_and_baseline_and_plan_share_one_frontend(
    monkeypatch, tmp_path
):
    from golden.bench import layouts, runner

    started = []

    def frontend(names, image):
        started.append("frontend")
        return "http://127.0.0.1:18382", 42

    def backend(names, layout, image, workers):
        started.append(f"{layout} x{workers}")
        return layouts.Target(name=layout, url="u", roots=[7], ports=[1])

    monkeypatch.setattr(runner, "start_frontend", frontend)
    monkeypatch.setattr(runner, "start_backend", backend)
    monkeypatch.setattr(runner, "start_golden", lambda *a: started.append("golden") or
                        layouts.Target(name="golden", url="g", roots=[9], ports=[18380]))
    monkeypatch.setattr(runner, "proxy_pids", lambda ports: [])
    names = layouts.Names()
    plan = workload.plan_from_options(layouts="plan,baseline", plan_workers=6)
    targets = runner._start_layouts(names, plan, "t", "b", "f", tmp_path)
    assert started == ["frontend", "baseline x6", "plan x6"]
    assert list(targets) == ["baseline", "plan"]
    assert all(t.frontend_url == "http://127.0.0.1:18382" for t in targets.values())
    assert all(t.roots == [7, 42] and t.ports == [1, 18382] for t in targets.values())
    started.clear()
    plan = workload.plan_from_options(layouts="golden")
    assert list(runner._start_layouts(names, plan, "t", "b", "f", tmp_path)) == ["golden"]
    assert started == ["golden"]
