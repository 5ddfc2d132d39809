"""golden-app-runtime (salt/app/files/golden-app-runtime.py): workers per replica and the
containers' memory and process limits, decided from the instance's size at each start."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "salt" / "app" / "files" / "golden-app-runtime.py"


@pytest.fixture(scope="module")
def runtime():
    loader = importlib.machinery.SourceFileLoader("golden_app_runtime", str(SCRIPT))
    spec = importlib.util.spec_from_loader("golden_app_runtime", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


DEFAULTS = {"system_reserve_mb": 768, "pids_per_worker": 128}


def sample(replicas=2):
    """The sample app's services as /etc/app/services.json lists them."""
    return [{"name": "backend", "prefix": "BACKEND", "replicas": replicas, "workers": True,
             "memory_mb": None},
            {"name": "frontend", "prefix": "FRONTEND", "replicas": 1, "workers": False,
             "memory_mb": 512}]  # fmt: skip


@pytest.mark.parametrize("vcpu, replicas, cap, expected", [
    (2, 2, 8, 1), (4, 2, 8, 2), (5, 2, 8, 3), (64, 2, 8, 8), (1, 4, 8, 1), (8, 0, 8, 8),
])  # fmt: skip
def test_workers_are_ceil_vcpu_over_replicas_within_the_cap(runtime, vcpu, replicas, cap,
                                                            expected):
    assert runtime.workers(vcpu, replicas, cap) == expected


@pytest.mark.parametrize("instance, mem_mb, vcpu, backend, frontend, pids", [
    # t3.small: 2 GiB, 2 vCPU. The system keeps 768 MiB; the frontend a quarter of the rest.
    ("t3.small", 1952, 2, "444m", "296m", "192"),
    # t3.medium: 4 GiB, 2 vCPU: the frontend gets its full 512 MiB.
    ("t3.medium", 3900, 2, "1304m", "512m", "192"),
    # c6i.2xlarge: 16 GiB, 8 vCPU: a fifth stays with the system; 4 workers per replica.
    ("c6i.2xlarge", 15880, 8, "6096m", "512m", "576"),
])  # fmt: skip
def test_limits_follow_the_instance_size(runtime, instance, mem_mb, vcpu, backend, frontend,
                                         pids):
    limits = runtime.limits(mem_mb, vcpu, sample(2), 8, **DEFAULTS)
    assert limits["BACKEND_MEMORY"] == backend, instance
    assert limits["FRONTEND_MEMORY"] == frontend, instance
    assert limits["BACKEND_PIDS"] == pids, instance
    assert limits["BACKEND_SCRATCH"] == f"{int(backend[:-1]) // 2}m"
    # Everything the containers may take fits beside what the system keeps.
    used = 2 * int(backend[:-1]) + int(frontend[:-1])
    assert used + max(768, mem_mb // 5) <= mem_mb


def test_a_tiny_instance_still_gets_startable_containers(runtime):
    limits = runtime.limits(900, 1, sample(4), 8, **DEFAULTS)
    assert limits["BACKEND_MEMORY"] == "256m" and limits["FRONTEND_MEMORY"] == "128m"


def test_meminfo_and_conf_are_read_and_bad_values_named(runtime):
    assert runtime.mem_total_mb("MemTotal:        4015836 kB\nMemFree: 1 kB\n") == 3921
    assert runtime.read_conf("# x\nREPLICAS=2\nWORKER_CAP=8\n") == {"REPLICAS": 2,
                                                                   "WORKER_CAP": 8}
    with pytest.raises(SystemExit, match="WORKER_CAP: expected an integer, got 'eight'"):
        runtime.read_conf("WORKER_CAP=eight\n")


def test_services_of_any_name_get_limits_and_only_worker_services_count_for_workers(runtime):
    """A FastAPI api x3 (WEB_CONCURRENCY), a Next.js web with a fixed share, a worker."""
    services = [
        {"name": "api", "prefix": "API", "replicas": 3, "workers": True, "memory_mb": None},
        {"name": "web", "prefix": "WEB", "replicas": 1, "workers": False, "memory_mb": 512},
        {"name": "jobs", "prefix": "JOBS", "replicas": 1, "workers": False, "memory_mb": None},
    ]
    limits = runtime.limits(15880, 8, services, 8, **DEFAULTS)
    # 15880 - 3176 = 12704; web 512; the rest over 4 shared replicas.
    assert limits["WEB_MEMORY"] == "512m" and limits["WEB_PIDS"] == "256"
    assert limits["API_MEMORY"] == limits["JOBS_MEMORY"] == f"{(12704 - 512) // 4}m"
    # ceil(8 / 3) = 3 workers per api replica.
    assert limits["API_PIDS"] == str(64 + 3 * 128) and limits["JOBS_PIDS"] == "256"
    assert runtime.worker_replicas(services) == 3


def test_a_bad_services_file_is_named(runtime):
    with pytest.raises(SystemExit, match=r"services.json: services\[0\]: expected replicas"):
        runtime.read_services('{"services": [{"prefix": "API", "replicas": "3"}]}')
    with pytest.raises(SystemExit, match="services.json: not the app's services"):
        runtime.read_services("[]")


def test_main_writes_both_files(runtime, tmp_path, monkeypatch):
    import json

    conf = tmp_path / "runtime.conf"
    conf.write_text("WORKER_CAP=8\n")
    plan = tmp_path / "services.json"
    plan.write_text(json.dumps({"services": sample(2), "containers": []}))
    monkeypatch.setattr(runtime, "CONF", conf)
    monkeypatch.setattr(runtime, "SERVICES", plan)
    monkeypatch.setattr(runtime, "RUN", tmp_path / "run")
    assert runtime.main() == 0
    env = (tmp_path / "run" / "runtime.env").read_text()
    limits = (tmp_path / "run" / "limits.env").read_text()
    assert env.startswith("WEB_CONCURRENCY=") and "GOLDEN_VCPU=" in env
    assert {line.split("=")[0] for line in limits.splitlines()} == {
        "BACKEND_MEMORY", "BACKEND_SCRATCH", "BACKEND_PIDS", "FRONTEND_MEMORY",
        "FRONTEND_SCRATCH", "FRONTEND_PIDS"}
