"""golden-app-roll (salt/app/files/golden-app-roll.py) as a unit: its decisions over a fake
Docker, a fake health probe from the host, a fake nginx probe and a fake clock, so every
bounded wait is checked without waiting. A fake container's state is what its replica
would show: "healthy" (running, answers 200 on its health path), "unhealthy" (running,
answers 503), "starting" (running, no answer yet) or Docker's own ("exited", ...). What
the fakes do not model: Compose's own recreate decision (the fake recreates exactly the
services whose hash changed), real signals and real HTTP."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "golden_app_roll", REPO / "salt" / "app" / "files" / "golden-app-roll.py"
)
roll = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(roll)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FakeStop:
    """A `docker stop` in progress: done once the replica's in-flight requests ended, or
    when the grace period ran out (then the container was killed)."""

    def __init__(self, docker, container, grace):
        self.docker, self.container, self.grace = docker, container, grace
        self.started = docker.clock.now
        self.killed_by_us = False

    def poll(self):
        elapsed = self.docker.clock.now - self.started
        busy = self.docker.busy_for.get(self.container, 0)
        if elapsed >= busy:
            self.docker.finish_stop(self.container, code=0)
            return 0
        if elapsed >= self.grace and not self.docker.hung.get(self.container):
            self.docker.finish_stop(self.container, code=roll.KILLED)
            return 0
        return None

    def kill(self):
        self.killed_by_us = True


class FakeDocker:
    def __init__(self, clock, services=("backend-1", "backend-2", "frontend")):
        self.clock = clock
        self.service_list = list(services)
        self.containers = {s: f"{s}-old" for s in services}
        self.states = {f"{s}-old": "healthy" for s in services}
        self.hashes = {s: "h1" for s in services}  # what the compose file says now
        self.labels = {f"{s}-old": "h1" for s in services}  # what each container was made from
        self.busy_for = {}  # container -> seconds its requests in flight still need
        self.hung = {}  # container -> docker stop never returns
        self.exit_codes = {}
        self.calls = []
        self.after_up = "healthy"  # state of a recreated container
        self.extra = []  # (service, container) orphans
        self.probed = []  # (port, path) the host's probe asked

    def services(self):
        return list(self.service_list)

    def container(self, service):
        return self.containers.get(service)

    def config_hash(self, service):
        return self.hashes.get(service)

    def container_hash(self, container):
        return self.labels.get(container)

    def state(self, container):
        state = self.states.get(container, "missing")
        return "running" if state in ("healthy", "unhealthy", "starting") else state

    def answer(self, port, path):
        """The host's probe of 127.0.0.1:PORT/PATH: what the replica on PORT answers."""
        self.probed.append((port, path))
        service = next(row["name"] for row in PLAN if row["port"] == port)
        state = self.states.get(self.containers.get(service), "missing")
        return {"healthy": 200, "unhealthy": 503}.get(state)

    def start_stop(self, container, grace):
        self.calls.append(("stop", container, grace))
        self.states[container] = "stopping"
        return FakeStop(self, container, grace)

    def finish_stop(self, container, code):
        self.states[container] = "exited"
        self.exit_codes[container] = code

    def exit_code(self, container):
        return self.exit_codes.get(container)

    def up(self, service, timeout):
        self.calls.append(("up", service))
        down = [s for s, c in self.containers.items()
                if s.startswith("backend-") and self.states.get(c) != "healthy"]  # fmt: skip
        self.down_during_up = down
        new = f"{service}-new"
        self.containers[service] = new
        self.states[new] = self.after_up
        self.labels[new] = self.hashes[service]

    def orphans(self, services):
        return list(self.extra)

    def remove_orphans(self, timeout):
        self.calls.append(("remove_orphans",))

    def open_connections(self, port):
        return 2


def answered(url):
    return 200, None


# The sample app's plan (/etc/app/services.json's containers, as the app formula writes it).
PLAN = [
    {"name": "backend-1", "service": "backend", "port": 8001, "health_path": "/health",
     "stop_grace": 310, "healthz": True},
    {"name": "backend-2", "service": "backend", "port": 8002, "health_path": "/health",
     "stop_grace": 310, "healthz": True},
    {"name": "frontend", "service": "frontend", "port": 3000, "health_path": "/health",
     "stop_grace": 310, "healthz": False},
]


@pytest.fixture
def world():
    clock = FakeClock()
    docker = FakeDocker(clock)
    lines = []

    def make(**kw):
        # nginx answers from whichever replica was just recreated.
        def probe(url):
            recreated = [s for s, c in docker.containers.items() if c.endswith("-new")]
            return 200, (recreated[-1] if recreated else None)

        plan = kw.pop("plan", PLAN)
        options = {"probe_fn": probe, "health_fn": docker.answer, "clock": clock,
                   "say": lines.append, "timeout": 180, "route_timeout": 30, **kw}  # fmt: skip
        return roll.Roll(docker, "http://127.0.0.1/healthz", plan, **options)

    return clock, docker, lines, make


def test_only_changed_replicas_are_drained_and_recreated_one_at_a_time(world):
    clock, docker, lines, make = world
    docker.hashes["backend-2"] = "h2"
    assert make().run() == 0
    assert [c for c in docker.calls if c[0] != "remove_orphans"] == [
        ("stop", "backend-2-old", 310), ("up", "backend-2")]  # fmt: skip
    assert "backend-1: unchanged" in lines and "frontend: unchanged" in lines


def test_the_roll_waits_for_requests_in_flight_before_it_recreates(world):
    clock, docker, lines, make = world
    docker.hashes = {s: "h2" for s in docker.hashes}
    docker.busy_for["backend-1-old"] = 42.0
    started = clock.now
    make().run()
    assert docker.calls[:2] == [("stop", "backend-1-old", 310), ("up", "backend-1")]
    drained = next(line for line in lines if line.startswith("backend-1: drained"))
    assert drained == "backend-1: drained in 42.0s (2 connection(s) in flight)"
    assert clock.now - started >= 42
    # Never two backends down at once: the other was healthy during each recreate.
    assert docker.down_during_up == []


def test_the_next_replica_drains_only_once_nginx_would_route_to_the_recreated_one(world):
    """nginx marks a replica that refused connections while it was down failed for
    fail_timeout (golden.conf: max_fails=3 fail_timeout=5s) and sends it nothing until
    then: the roll holds longer than that before draining the next replica of the same
    service, else nginx is left without a server (the hotfix twin test saw 502s)."""
    template = (REPO / "salt" / "nginx" / "files" / "golden.conf.j2").read_text()
    fail_timeout = float(template.split("fail_timeout=")[1].split("s")[0])
    clock, docker, lines, make = world
    docker.hashes = {s: "h2" for s in docker.hashes}
    times = []
    for name in ("start_stop", "up"):
        real = getattr(docker, name)

        def timed(*args, _real=real, _name=name, **kwargs):
            times.append((_name, args[0], clock.now))
            return _real(*args, **kwargs)

        setattr(docker, name, timed)
    make().run()
    up_1 = next(t for kind, what, t in times if (kind, what) == ("up", "backend-1"))
    stop_2 = next(t for kind, what, t in times if (kind, what) == ("start_stop", "backend-2-old"))
    assert stop_2 - up_1 > fail_timeout
    assert any(line.startswith("backend-1: held") for line in lines)
    # A single replica has no peer to wait for.
    assert not any(line.startswith("frontend: held") for line in lines)


def test_a_healthy_replica_is_not_stopped_when_no_other_replica_is_healthy(world):
    clock, docker, lines, make = world
    docker.hashes = {s: "h2" for s in docker.hashes}
    docker.states["backend-2-old"] = "unhealthy"
    with pytest.raises(SystemExit, match="not restarting backend-1: no other replica is healthy"):
        make().run()
    assert docker.calls == []


def test_a_replica_still_busy_after_the_grace_period_is_started_again_then_fails_the_roll(world):
    clock, docker, lines, make = world
    docker.hashes["backend-1"] = "h2"
    docker.busy_for["backend-1-old"] = 10_000
    with pytest.raises(SystemExit, match="backend-1 was still serving requests after 310s"):
        make().run()
    assert docker.calls == [("stop", "backend-1-old", 310), ("up", "backend-1")]
    assert docker.states[docker.containers["backend-1"]] == "healthy"


def test_a_docker_stop_that_never_returns_is_given_up_on(world):
    clock, docker, lines, make = world
    docker.hashes["backend-1"] = "h2"
    docker.busy_for["backend-1-old"] = 10_000
    docker.hung["backend-1-old"] = True
    started = clock.now
    with pytest.raises(SystemExit, match="did not return within 340s"):
        make().run()
    assert 340 <= clock.now - started <= 341
    assert ("up", "backend-1") not in docker.calls


REPLICA = r"backend-1 \(service backend\) on http://127.0.0.1:8001/health: "


# A replica that never answers, answers other than 200, or whose container exits: the roll
# stops naming the replica, its service, port and path and why, within its bound (180 s
# of probing; at once for an exited container); the rest stay on the old configuration.
@pytest.mark.parametrize(("after_up", "why", "within"), [
    ("starting", r"not healthy within 180s \(expected 200; no answer\)", 181),
    ("unhealthy", r"not healthy within 180s \(expected 200; last answer 503\)", 181),
    ("exited", r"the container is exited", 5),
])  # fmt: skip
def test_a_replica_that_does_not_become_healthy_stops_the_roll_saying_why(
    world, after_up, why, within
):
    clock, docker, lines, make = world
    docker.hashes["backend-1"] = "h2"
    docker.after_up = after_up
    started = clock.now
    with pytest.raises(SystemExit, match=REPLICA + why):
        make().run()
    assert clock.now - started <= within
    assert ("up", "backend-2") not in docker.calls


def test_health_is_the_hosts_probe_of_the_replicas_port_and_path(world):
    """No healthcheck inside the image: golden asks 127.0.0.1:PORT/PATH itself."""
    clock, docker, lines, make = world
    docker.hashes["frontend"] = "h2"
    make().run()
    assert (3000, "/health") in docker.probed
    custom = [dict(row, health_path="/ready") if row["name"] == "frontend" else row
              for row in PLAN]  # fmt: skip
    docker.hashes["frontend"] = "h3"
    docker.probed.clear()
    make(plan=custom).run()
    assert (3000, "/ready") in docker.probed and (3000, "/health") not in docker.probed


def test_a_worker_without_a_port_is_healthy_while_it_runs(world):
    clock, docker, lines, make = world
    plan = [*PLAN, {"name": "jobs", "service": "jobs", "port": None, "health_path": None,
                    "stop_grace": 30, "healthz": False}]  # fmt: skip
    docker.service_list.append("jobs")
    docker.containers["jobs"] = "jobs-old"
    docker.states["jobs-old"] = "healthy"
    docker.hashes["jobs"] = "h2"
    docker.labels["jobs-old"] = "h1"
    make(plan=plan).run()
    assert ("stop", "jobs-old", 30) in docker.calls and ("up", "jobs") in docker.calls
    assert all(port is not None for port, _ in docker.probed)


def test_waiting_for_nginx_to_route_is_bounded(world):
    clock, docker, lines, make = world
    docker.hashes["backend-1"] = "h2"
    started = clock.now
    with pytest.raises(SystemExit, match="nginx did not route to backend-1 within 30s"):
        make(probe_fn=lambda url: (502, None)).run()
    assert clock.now - started <= 31


def test_an_app_that_does_not_name_its_replica_gets_settle_seconds_of_200s(world):
    clock, docker, lines, make = world
    docker.hashes["backend-1"] = "h2"
    make(probe_fn=answered, settle=6.0).run()
    assert any("routed by nginx (6s of 200s)" in line for line in lines)


def test_orphans_are_drained_with_the_grace_period_before_removal(world):
    clock, docker, lines, make = world
    docker.extra = [("backend-3", "backend-3-old")]
    docker.states["backend-3-old"] = "healthy"
    docker.busy_for["backend-3-old"] = 7.0
    make().run()
    assert docker.calls == [("stop", "backend-3-old", 310), ("remove_orphans",)]
    assert any(line.startswith("backend-3: removed from the compose file, drained in 7.")
               for line in lines)  # fmt: skip


def test_ports_and_stop_grace_periods_come_from_the_plan(world):
    *_, make = world
    plan = [dict(row, port=row["port"] + 1000, stop_grace=45) for row in PLAN]
    r = make(plan=plan)
    assert (r.port("backend-1"), r.port("backend-2"), r.port("frontend")) == (9001, 9002, 4000)
    assert r.stop_timeout("frontend") == 45 and r.port("gone") is None


def test_check_reports_every_replica_and_fails_when_one_is_not_healthy(world):
    _, docker, lines, make = world
    assert make().check() == 0
    docker.states["frontend-old"] = "unhealthy"
    lines.clear()
    assert make().check() == 1
    assert "frontend (service frontend) on http://127.0.0.1:3000/health: starting " \
           "(answered 503)" in lines


# -- app.service's start (--start) ------------------------------------------------------------
def _up_all(docker):
    def up_all(*, recreate, timeout):
        docker.calls.append(("up_all", recreate))
        for service in docker.service_list:
            current = docker.containers.get(service)
            stopped = docker.states.get(current) in (None, "exited", "missing")
            if recreate or stopped:
                new = f"{service}-fresh"
                docker.containers[service] = new
                docker.states[new] = docker.after_up
                docker.labels[new] = docker.hashes[service]
        return docker.up_all_code

    docker.up_all_code = 0
    docker.up_all = up_all


def test_a_start_on_an_instance_serving_nothing_starts_everything_at_once(world):
    _, docker, _, make = world
    _up_all(docker)
    for container in list(docker.states):
        docker.states[container] = "exited"
    assert make().start() == 0
    assert ("up_all", True) in docker.calls


def test_a_start_on_a_serving_instance_never_recreates_every_replica_at_once(world):
    """The outage of issue 21 item 8: app.service failed during its start while Docker
    kept the replicas serving; the next hotfix's service.running started the unit, whose
    `--force-recreate` recreated every replica at once."""
    _, docker, lines, make = world
    _up_all(docker)
    docker.hashes["backend-1"] = docker.hashes["backend-2"] = "h2"  # this boot's new env
    down_at_each_up = []
    original_up = docker.up

    def up(service, timeout):
        original_up(service, timeout)
        down_at_each_up.append(sorted(docker.down_during_up))

    docker.up = up
    assert make().start() == 0
    assert ("up_all", True) not in docker.calls  # no recreate of everything
    ups = [c for c in docker.calls if c[0] == "up"]
    assert ups == [("up", "backend-1"), ("up", "backend-2")]  # one at a time
    # While one replica was recreated the other served.
    assert down_at_each_up == [["backend-1"], ["backend-2"]]
    assert any("already serving" in line for line in lines)


def test_a_start_whose_compose_wait_failed_succeeds_once_every_service_is_healthy(world):
    """A replica that crashed during the start and that Docker restarted: compose's
    --wait failed, but the app serves, and the unit says so."""
    _, docker, lines, make = world
    _up_all(docker)
    for container in list(docker.states):
        docker.states[container] = "exited"
    docker.up_all_code = 1
    assert make().start() == 0
    assert any("checking every service again" in line for line in lines)


def test_a_start_that_leaves_a_service_unhealthy_fails(world):
    _, docker, _, make = world
    _up_all(docker)
    for container in list(docker.states):
        docker.states[container] = "exited"
    docker.after_up = "unhealthy"
    with pytest.raises(roll.RollError, match="last answer 503"):
        make().start()


class StopRecorder:
    def __init__(self):
        self.stops = []

    def stop_all(self, timeout):
        self.stops.append(timeout)
        return 0


# `systemctl list-jobs --plain --no-legend` as systemd 252 prints it.
RESTARTING = "1234 app.service restart running\n1240 nginx.service reload waiting\n"
SHUTTING_DOWN = "1 shutdown.target start waiting\n88 app.service stop running\n"


def test_the_stop_half_of_a_restart_leaves_every_replica_serving():
    """Issue 21 item 8: `systemctl restart app` ran ExecStop (compose stop: every replica
    down at once) before the start."""
    docker, lines = StopRecorder(), []
    assert roll.stop(docker, "app.service", timeout=370, list_jobs=RESTARTING,
                     say=lines.append) == 0  # fmt: skip
    assert docker.stops == [] and "keep serving" in lines[0]


@pytest.mark.parametrize("jobs", [SHUTTING_DOWN, "", "1234 other.service restart running\n"])
def test_a_stop_or_a_shutdown_stops_every_container(jobs):
    docker = StopRecorder()
    assert roll.stop(docker, "app.service", timeout=370, list_jobs=jobs, say=print) == 0
    assert docker.stops == [370]


@pytest.mark.parametrize(("line", "restarting"), [
    ("7 app.service try-restart running", True),
    ("7 app.service reload-or-restart running", True),
    ("7 app.service reload running", False),
    ("7 app.service stop running", False),
    ("7 app.service.d restart running", False),
    ("garbage", False),
])  # fmt: skip
def test_only_a_restart_job_of_the_unit_counts(line, restarting):
    assert roll.stop_is_for_restart("app.service", line) is restarting
