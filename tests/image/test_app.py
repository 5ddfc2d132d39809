import json

import pytest

from .conftest import http, wait_for

pytestmark = pytest.mark.app_role


def compose_ps(host):
    out = host.check_output("docker compose -p app -f /opt/app/compose.yaml ps --format json")
    # Compose prints one JSON object per line (newer) or one array (older).
    out = out.strip()
    return json.loads(out) if out.startswith("[") else [json.loads(x) for x in out.splitlines()]


@pytest.mark.sample_app
def test_backend_replicas_match_pillar(host, replicas):
    services = {c["Service"] for c in compose_ps(host) if c["State"] == "running"}
    assert services == {f"backend-{i + 1}" for i in range(replicas)} | {"frontend"}


def test_every_declared_container_runs(host, plan):
    running = {c["Service"] for c in compose_ps(host) if c["State"] == "running"}
    assert running == {c["name"] for c in plan["containers"]}


def test_images_are_pinned_by_digest(host):
    compose = host.file("/opt/app/compose.yaml").content_string
    images = [line.split("image:")[1].strip() for line in compose.splitlines() if "image:" in line]
    assert images and all(ref.startswith("sha256:") or "@sha256:" in ref for ref in images)


def test_workers_follow_cpu_count_with_cap(host, pillar, plan):
    """WEB_CONCURRENCY = ceil(vCPU / replicas of the services that take it), in 1..cap."""
    vcpu = int(host.check_output("nproc"))
    cap = pillar["app"].get("worker_cap", 8)
    replicas = sum(s["replicas"] for s in plan["services"] if s["workers"])
    assert replicas, "no declared service takes WEB_CONCURRENCY"
    env = host.file("/run/app/runtime.env").content_string
    assert f"WEB_CONCURRENCY={max(1, min(-(-vcpu // replicas), cap))}" in env


def test_env_dir_is_private(host):
    assert host.file("/etc/app").mode == 0o700


@pytest.mark.sample_app
def test_killed_backend_is_replaced_without_5xx(host, replicas):
    """Kill one replica's process: nginx keeps answering /api/ (next upstream) and Docker
    restarts the container."""
    pid = host.check_output("docker inspect -f '{{.State.Pid}}' app-backend-1-1")
    restarts = int(host.check_output("docker inspect -f '{{.RestartCount}}' app-backend-1-1"))
    host.run(f"kill -9 {pid}")
    codes = [http(host, "/api/whoami", f"X-Forwarded-For: 10.0.5.{i}") for i in range(40)]
    assert all(code == 200 for code in codes), codes
    assert wait_for(lambda: int(host.check_output(
        "docker inspect -f '{{.RestartCount}}' app-backend-1-1")) > restarts, timeout=60)
    assert wait_for(lambda: http(host, "/healthz") == 200, timeout=30)


def _size_bytes(value: str) -> int:
    """docker's "700m" / "1g" -> bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(value[:-1]) * units[value[-1].lower()] if value[-1].isalpha() else int(value)


def test_containers_run_without_capabilities_and_within_limits(host, plan):
    limits = dict(line.split("=", 1) for line in
                  host.file("/run/app/limits.env").content_string.splitlines() if "=" in line)
    prefixes = {s["name"]: s["prefix"] for s in plan["services"]}
    for container in plan["containers"]:
        name, prefix = f"app-{container['name']}-1", prefixes[container["service"]]
        config = json.loads(host.check_output(f"docker inspect {name}"))[0]["HostConfig"]
        assert config["CapDrop"] == ["ALL"] and not config["CapAdd"], name
        assert "no-new-privileges:true" in config["SecurityOpt"], name
        assert config["ReadonlyRootfs"] is True, name
        assert config["Memory"] == _size_bytes(limits[f"{prefix}_MEMORY"]), name
        assert config["PidsLimit"] == int(limits[f"{prefix}_PIDS"]), name
        # What the app's process itself holds.
        status = dict(line.split(":", 1) for line in host.check_output(
            f"docker exec {name} cat /proc/1/status").splitlines() if ":" in line)
        assert int(status["CapEff"].strip(), 16) == 0, name
        assert int(status["CapPrm"].strip(), 16) == 0, name
        assert status["NoNewPrivs"].strip() == "1", name
        assert host.run(f"docker exec {name} touch /usr/local/x").rc != 0, name


@pytest.mark.sample_app
def test_the_backend_has_a_writable_scratch_tmp(host):
    assert host.run("docker exec app-backend-1-1 touch /tmp/x").rc == 0
