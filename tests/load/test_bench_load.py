"""What the load bench sends and where, checked without docker: the loopback guard,
per-user client addresses, the plan and the options that shape it (layouts and parts
among them), the closed loop's interleaving, the dry run, the layouts' commands, the
twin's seed for the bench and the bench's ports.

The locustfile's own guard is exercised by running Locust itself with a forbidden host:
it must refuse before any user starts (nothing is sent, so the test needs no server)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from golden.bench import layouts, report, workload
from golden.cli import main
from golden.core.errors import ConfigError

# --- the loopback guard ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.2:18380/", "http://127.0.0.2:18380"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://127.0.0.1", "https://127.0.0.1"),
    ],
)
def test_loopback_hosts_pass_and_come_back_without_a_trailing_slash(url, expected):
    assert workload.check_target(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:80",  # private: another machine
        "http://172.28.16.2",  # a docker network: not loopback
        "http://192.168.1.10",
        "http://8.8.8.8",
        "http://example.com",
        "http://127.0.0.1.nip.io",  # a name that resolves to loopback is still refused
        "http://localhost.example.com",
        "http://[2001:db8::1]:80",
    ],
)
def test_non_loopback_hosts_are_refused_naming_the_flag_and_the_way_out(url):
    with pytest.raises(ConfigError) as err:
        workload.check_target(url)
    message = str(err.value)
    assert message.startswith("--host:") and "--allow-remote" in message


def test_allow_remote_lets_an_alb_url_through():
    url = "https://agent-alb-123.eu-west-1.elb.amazonaws.com"
    assert workload.check_target(url, allow_remote=True) == url


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("", "expected a URL"),
        ("127.0.0.1:8080", "http://"),
        ("ftp://127.0.0.1", "http://"),
        ("http://127.0.0.1:8080/api", "without path"),
        ("http://127.0.0.1:8080/?q=1", "without path"),
        ("http://127.0.0.1:99999", "malformed port"),
    ],
)
def test_malformed_urls_are_refused_even_with_allow_remote(url, fragment):
    with pytest.raises(ConfigError, match=fragment):
        workload.check_target(url, allow_remote=True)


def test_the_guard_names_the_option_it_checked():
    with pytest.raises(ConfigError, match="^--frontend-host:"):
        workload.check_target("http://10.1.2.3", what="--frontend-host")


# --- client addresses -----------------------------------------------------------------


def test_each_user_gets_its_own_address_in_the_benchmarking_range():
    addresses = [workload.client_address(i) for i in range(1000)]
    assert len(set(addresses)) == 1000
    assert all(ipaddress.ip_address(a) in workload.XFF_NETWORK for a in addresses)
    # Never inside the twin's network, whose addresses nginx trusts as the load balancer.
    assert not any(a.startswith("172.28.16.") for a in addresses)


def test_a_pool_makes_users_share_addresses_as_behind_a_nat():
    addresses = {workload.client_address(i, pool=3) for i in range(30)}
    assert len(addresses) == 3


def test_negative_index_or_pool_is_refused():
    with pytest.raises(ConfigError):
        workload.client_address(-1)
    with pytest.raises(ConfigError):
        workload.client_address(1, pool=-2)


# --- the plan -------------------------------------------------------------------------


def test_default_plan_of_three_layouts_fits_in_eighteen_minutes_and_quick_in_three():
    # 45 s of closed loop per level: 5 s rounds let wrk's 200-connection start-up set p95.
    assert workload.Plan().validate().estimate_seconds() < 18 * 60
    assert workload.QUICK.validate().estimate_seconds() <= 180


def test_the_estimate_counts_only_the_selected_parts_over_the_layouts_each_measures():
    plan = workload.plan_from_options(parts="closed", layouts="plan,golden", closed_seconds=45)
    # Two layouts x two connection counts x (45 s + 3 s), plus 30 s of boot.
    assert plan.estimate_seconds() == 2 * 2 * 48 + 30
    full = workload.Plan()
    two = replace(full, layouts=("baseline", "golden"))
    assert full.estimate_seconds() > two.estimate_seconds()


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"levels": ()}, "--levels"),
        ({"levels": (0, 200)}, "--levels"),
        ({"saturation_connections": (1,)}, "--connections"),
        ({"think_seconds": 3}, "--think-seconds"),
        ({"saturation_seconds": 1000}, "--saturation-seconds"),
        ({"think_min": 5.0, "think_max": 1.0}, "--think"),
        ({"upload_mb": 200}, "--upload-mb"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_option(changes, fragment):
    with pytest.raises(ConfigError, match=fragment):
        replace(workload.Plan(), **changes).validate()


def test_options_replace_only_what_is_given_on_top_of_the_quick_plan():
    plan = workload.plan_from_options(quick=True, levels="10, 20", think="2,3")
    assert plan == replace(workload.QUICK, levels=(10, 20), think_min=2.0, think_max=3.0)
    assert workload.plan_from_options() == workload.Plan()


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"levels": "abc"}, "--levels: expected comma-separated integers"),
        ({"connections": "50;200"}, "--connections: expected comma-separated integers"),
        ({"think": "1"}, "--think: expected MIN,MAX seconds"),
        ({"think": "5,1"}, "--think: expected 0 <= min <= max"),
    ],
)
def test_malformed_options_are_refused_naming_the_option(options, fragment):
    with pytest.raises(ConfigError, match=fragment):
        workload.plan_from_options(**options)


def test_the_dry_run_shows_the_settings_the_ports_and_the_wall_time():
    preview = report.plan_preview(workload.QUICK, layouts.Names().ports())
    assert preview["estimated_seconds"] == round(workload.QUICK.estimate_seconds())
    table = report.render_plan_preview(preview)
    assert "| levels " in table and "(200,)" in table
    assert "| ports (twin, baseline api, frontend, plan api) | 18380, 18381, 18382, 18383" in table


def test_the_dry_run_shows_the_layouts_and_what_each_part_measures():
    plan = workload.plan_from_options(layouts="golden,plan", parts="closed,upload")
    preview = report.plan_preview(plan, layouts.Names().ports())
    assert preview["plan"]["layouts"] == ("plan", "golden")
    assert preview["measures"] == {
        "think": [], "closed": ["plan", "golden"], "nginx": [], "upload": ["golden"],
    }  # fmt: skip
    table = report.render_plan_preview(preview)
    assert "| part closed " in table and "plan, golden" in table
    assert "| part think " in table and "not run" in table


# --- layouts and parts ----------------------------------------------------------------


def test_every_layout_and_part_runs_by_default_with_the_plans_four_workers():
    plan = workload.plan_from_options()
    assert plan.layouts == ("baseline", "plan", "golden")
    assert plan.parts == ("think", "closed", "nginx", "upload")
    assert plan.plan_workers == 4
    # The upload and nginx's overhead stay with the layouts the targets name.
    assert plan.part_layouts("closed") == ("baseline", "plan", "golden")
    assert plan.part_layouts("think") == ("baseline", "plan", "golden")
    assert plan.part_layouts("upload") == ("baseline", "golden")
    assert plan.part_layouts("nginx") == ("golden",)


def test_layouts_and_parts_are_taken_in_the_benchs_order_whatever_order_they_are_given():
    plan = workload.plan_from_options(layouts="golden, PLAN,golden", parts="closed,think")
    assert plan.layouts == ("plan", "golden")
    assert plan.parts == ("think", "closed")
    assert plan.part_layouts("upload") == ()


def test_without_parts_only_the_parts_that_measure_a_selected_layout_run():
    assert workload.plan_from_options(layouts="baseline,plan").parts == (
        "think", "closed", "upload",
    )  # fmt: skip
    assert workload.plan_from_options(layouts="plan").parts == ("think", "closed")
    assert workload.plan_from_options(layouts="golden").parts == workload.PARTS


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"layouts": "plan,nginx"}, "--layouts: unknown 'nginx'; expected a comma list of "
                                    "baseline,plan,golden"),
        ({"layouts": " , "}, "--layouts: nothing given"),
        ({"parts": "closed,wrk"}, "--parts: unknown 'wrk'; expected a comma list of "
                                  "think,closed,nginx,upload"),
        ({"layouts": "baseline,plan", "parts": "nginx"}, "--parts: nginx measures the golden"),
        ({"layouts": "plan", "parts": "closed,upload"}, "--parts: upload measures the baseline"),
        ({"plan_workers": 65}, "--plan-workers: expected 1..64"),
    ],
)  # fmt: skip
def test_bad_layouts_parts_or_workers_are_refused_naming_the_option(options, fragment):
    with pytest.raises(ConfigError, match=fragment):
        workload.plan_from_options(**options)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--layouts", "plan,nginx"], "Invalid value for '--layouts': unknown 'nginx'; "
                                      "expected a comma list of baseline,plan,golden"),
        (["--parts", "closd"], "Invalid value for '--parts': unknown 'closd'; "
                               "expected a comma list of think,closed,nginx,upload"),
        (["--plan-workers", "0"], "Invalid value for '--plan-workers'"),
    ],
)  # fmt: skip
def test_the_command_refuses_bad_layouts_and_parts_as_usage_errors(args, fragment, tmp_path):
    # --out points at a fresh folder: a value that got through would show as files there.
    result = CliRunner().invoke(main, ["bench", "load", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert not (tmp_path / "o").exists()


def test_the_commands_dry_run_shows_the_chosen_layouts_and_parts():
    result = CliRunner().invoke(
        main,
        ["bench", "load", "--parts", "closed", "--layouts", "plan,golden",
         "--closed-seconds", "45", "--plan-workers", "6", "--dry-run", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    preview = json.loads(result.output)
    assert preview["plan"]["layouts"] == ["plan", "golden"]
    assert preview["plan"]["parts"] == ["closed"]
    assert preview["plan"]["plan_workers"] == 6
    assert preview["estimated_seconds"] == 2 * 2 * 48 + 30


def test_closed_loop_rounds_visit_every_layout_before_the_next_round():
    order = workload.interleaved(("baseline", "plan", "golden"), 3)
    assert order == [
        (1, "baseline"), (1, "plan"), (1, "golden"),
        (2, "baseline"), (2, "plan"), (2, "golden"),
        (3, "baseline"), (3, "plan"), (3, "golden"),
    ]  # fmt: skip
    assert workload.interleaved(("plan", "golden"), 2) == [
        (1, "plan"), (1, "golden"), (2, "plan"), (2, "golden"),
    ]  # fmt: skip


# --- the layouts' commands ------------------------------------------------------------

SAMPLE_BACKEND = Path(__file__).resolve().parents[1] / "sample_app" / "backend"


def test_the_plan_layout_runs_the_plans_gunicorn_command_with_its_worker_count():
    assert layouts.plan_argv(4) == [
        "gunicorn", "-w", "4", "-k", "uvicorn.workers.UvicornWorker",
        "sample_backend.asgi:app", "--bind", "0.0.0.0:8000",
    ]  # fmt: skip
    assert layouts.plan_argv(6)[1:3] == ["-w", "6"]
    # No access log option: gunicorn writes none without --access-logfile.
    assert not [a for a in layouts.plan_argv(4) if "access" in a]


def test_both_single_container_layouts_serve_the_sample_backends_asgi_app():
    module, attr = layouts.APP_MODULE.split(":")
    source = SAMPLE_BACKEND.joinpath(*module.split(".")).with_suffix(".py")
    assert f"\n{attr} = " in source.read_text()
    assert layouts.APP_MODULE in layouts.plan_argv(4)
    assert layouts.APP_MODULE in layouts.baseline_argv()
    # uvicorn's own plain-text access log off, as the app writes its JSON line.
    assert "--no-access-log" in layouts.baseline_argv()


# --- the locustfile refuses before sending ------------------------------------------------

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def _locust(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "1",
         "-t", "5s", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--host", "http://10.0.0.5"], "--host: '10.0.0.5' is not a loopback address"),
        (
            ["--host", "http://127.0.0.1:9", "--frontend-host", "http://192.168.0.2"],
            "--frontend-host: '192.168.0.2'",
        ),
        ([], "--host: expected a URL"),
    ],
)
def test_locustfile_refuses_a_non_loopback_target_before_any_user_starts(args, fragment):
    proc = _locust(*args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert fragment in proc.stderr
    assert "--allow-remote" in proc.stderr or "expected a URL" in proc.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--think-min", "5", "--think-max", "1"], "--think-min/--think-max"),
        (["--large-uploaders", "-1"], "--large-uploaders"),
        (["--max-seconds", "0"], "--max-seconds"),
    ],
)
def test_locustfile_refuses_bad_options_before_any_user_starts(args, fragment):
    # Port 9 (discard) on loopback: nothing listens, and nothing is sent anyway.
    proc = _locust("--host", "http://127.0.0.1:9", *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"error: {fragment}" in proc.stderr


# --- the bench's seed and ports -------------------------------------------------------


def test_bench_seed_sets_the_build_marker_before_the_boot_step_and_names_the_instance():
    files = workload.bench_seed_files("golden-perf-twin")
    assert set(files) == {"meta-data", "user-data"}
    assert "instance-id: golden-perf-twin" in files["meta-data"]
    user_data = files["user-data"]
    assert user_data.startswith("#cloud-config\n")
    # bootcmd runs in cloud-init's init stage, before golden-boot.service (After=cloud-init).
    assert "bootcmd:" in user_data and "/run/golden/build" in user_data
    # No instance document and nothing secret-looking: the app runs without shared services.
    assert "write_files" not in user_data and "instance.json" not in user_data


def test_bench_seed_uses_the_boot_steps_own_build_marker_path():
    from golden.instance import boot as instance_boot

    marker = instance_boot.BUILD_MARKER
    user_data = workload.bench_seed_files("x")["user-data"]
    assert f"[touch, {marker}]" in user_data
    assert f"[mkdir, -p, {marker.parent}]" in user_data


@pytest.mark.parametrize("base", [18379, 18397, 18398, 8080])
def test_ports_outside_the_benchs_range_are_refused_before_anything_starts(base):
    # 18397 would put the plan's port at 18400, past the bench's range.
    with pytest.raises(ConfigError, match=r"--port-base: expected 18380\.\.18396 \(it uses 4"):
        layouts.Names(port_base=base).validate()


def test_the_default_ports_are_four_consecutive_ones_in_range():
    names = layouts.Names().validate()
    assert names.ports() == {"twin": 18380, "api": 18381, "web": 18382, "plan": 18383}
    assert layouts.Names(port_base=18396).validate().ports()["plan"] == 18399
    assert names.plan == "golden-perf-plan-api"
    assert names.plan in names.all() and len(set(names.all())) == 4
