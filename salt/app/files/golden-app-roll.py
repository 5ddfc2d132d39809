#!/usr/bin/python3
"""golden-app-roll: apply a changed compose file or env file to the running app, one
replica at a time, so nginx always has a healthy replica to send requests to.

Health is golden's own probe from the host, never a program inside the image: a replica
is healthy when its container runs and (for a service with a health path) it answers 200
on http://127.0.0.1:PORT/HEALTH_PATH. The ports, health paths and stop grace periods come
from /etc/app/services.json (--services: the app's declared services expanded by the app
formula, salt/_modules/golden_app.py); a service without a port (a worker) is healthy
while its container runs.

Run by the app formula when /opt/app/compose.yaml, /etc/app/app-settings.env or the
runtime settings change (and by `systemctl reload app`). For each replica whose
configuration changed (Compose's config hash of the service differs from its
container's), replicated services first, in turn:

1. refuse when it is healthy and no other replica of its service is: requests would fail;
2. drain it: `docker stop --time STOP_TIMEOUT` sends SIGTERM, so gunicorn stops
   accepting (nginx sends new requests to the other replicas) and finishes the requests
   in flight; the roll waits for that, bounded by its stop grace period (by default the
   timeout chain's, longer than the graceful timeout it is told, longer than the longest
   request), reporting the connections still open on the replica's port;
3. `docker compose up -d --no-deps REPLICA` recreates it with the new configuration;
4. waits until it answers its health path on 127.0.0.1 and, for a replica of the service
   behind nginx's /healthz (app:healthz_service), until /healthz has answered from it;
5. a replica with peers is then given --settle seconds (more than nginx's fail_timeout)
   before the next one drains: nginx may still hold it failed from its refused
   connections while it was down.

A single-replica service has a short gap. Orphans (replicas removed from the compose
file) are drained last, after nginx has stopped routing to them, then removed.

With --start it is app.service's start (ExecStart): on an instance that serves nothing,
every container starts at once (`up --force-recreate --wait`, this boot's env files);
on one that already serves (a start after the unit failed while Docker kept or restarted
the containers, a highstate or hotfix starting the unit), the changed replicas roll one at
a time as above and only stopped ones start: no path takes every replica down at once.
Either way the start succeeds only once every replica is healthy, so the unit's state
says whether the app serves (a replica Docker restarted during the start counts once it
is healthy again); otherwise it fails naming the replica, its service, port and health
path and the last answer.

With --check it probes every replica once and prints what it found: exit 0 when all are
healthy (the tests and operators use it instead of Docker's health status).

With --stop it is app.service's stop (ExecStop): `systemctl stop` and a shutdown stop
every container (`compose stop`, each with its stop grace period), but the stop half of
`systemctl restart app` (a restart job queued for the unit) leaves them serving: the
start that follows rolls changed replicas one at a time, so a restart never takes every
replica down at once.

Every wait is bounded; a replica that does not come back stops the roll with exit 1,
leaving the remaining replicas untouched on their old configuration, and so does a
replica that Docker had to kill with requests still in flight (it is started again
first). When app.service is not active nothing is rolled: its next start uses the new
files. Decisions are in `Roll`; Docker, HTTP and the clock are adapters it is given.
"""

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

# `docker stop` exit code of a container killed by SIGKILL (128 + 9): it was still busy.
KILLED = 137


class RollError(SystemExit):
    def __init__(self, message):
        super().__init__(f"golden-app-roll: {message}")


def log(message):
    print(message, flush=True)


def run(argv, timeout=300, check=True):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RollError(
            f"{' '.join(argv[:6])} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-600:]}"
        )
    return proc


class Clock:
    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)


class Docker:
    """Compose and Docker calls for one project (the adapter `Roll` is given)."""

    def __init__(self, project, file, env_file=None):
        self.project = project
        self.base = ["docker", "compose", "--project-name", project, "--file", file]
        # The same interpolation values as app.service's own runs, or every replica
        # would look changed (its limits would differ) and be recreated.
        if env_file:
            self.base += ["--env-file", env_file]

    def services(self):
        return run(self.base + ["config", "--services"]).stdout.split()

    def container(self, service):
        out = run(self.base + ["ps", "--all", "--quiet", service], check=False).stdout.split()
        return out[0] if out else None

    def config_hash(self, service):
        """Compose's hash of the service as the compose file now says (None: unknown)."""
        proc = run(self.base + ["config", "--hash", service], check=False)
        parts = proc.stdout.split()
        return parts[-1] if proc.returncode == 0 and len(parts) >= 2 else None

    def container_hash(self, container):
        proc = run(["docker", "inspect", "--format",
                    '{{index .Config.Labels "com.docker.compose.config-hash"}}', container],
                   check=False)  # fmt: skip
        return proc.stdout.strip() or None

    def state(self, container):
        """Docker's state of the container: 'running', 'restarting', 'exited', 'created',
        'dead', ... or 'missing'."""
        proc = run(["docker", "inspect", "--format", "{{.State.Status}}", container],
                   check=False)  # fmt: skip
        parts = proc.stdout.split()
        return parts[0] if parts else "missing"

    def start_stop(self, container, grace):
        """`docker stop --time GRACE` started (not waited for): SIGTERM now, SIGKILL after
        GRACE seconds if the container is still running."""
        return subprocess.Popen(
            ["docker", "stop", "--time", str(grace), container],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def exit_code(self, container):
        proc = run(["docker", "inspect", "--format", "{{.State.ExitCode}}", container], check=False)
        try:
            return int(proc.stdout.strip())
        except ValueError:
            return None

    def up(self, service, timeout):
        run(self.base + ["up", "--detach", "--no-deps", service], timeout=timeout)

    def orphans(self, services):
        """(service, container) of this project's containers not in the compose file."""
        label = f"label=com.docker.compose.project={self.project}"
        ids = run(["docker", "ps", "--quiet", "--filter", label], check=False).stdout.split()
        found = []
        for container in ids:
            proc = run(["docker", "inspect", "--format",
                        '{{index .Config.Labels "com.docker.compose.service"}}', container],
                       check=False)  # fmt: skip
            service = proc.stdout.strip()
            if service and service not in services:
                found.append((service, container))
        return found

    def up_all(self, *, recreate, timeout):
        """`compose up --wait` of the whole project: RECREATE every container (a fresh
        start) or only start what is stopped. With healthchecks disabled in the compose file,
        --wait waits until each container runs. Returns compose's exit code: it fails when
        a container exited at some moment, which the caller checks again."""
        how = "--force-recreate" if recreate else "--no-recreate"
        return run(self.base + ["up", "--detach", "--remove-orphans", how, "--wait"],
                   timeout=timeout, check=False).returncode  # fmt: skip

    def stop_all(self, timeout):
        """`compose stop`: every container, each given its stop_grace_period; compose's
        exit code (TIMEOUT bounds the whole call, in seconds)."""
        return run(self.base + ["stop"], timeout=timeout, check=False).returncode

    def remove_orphans(self, timeout):
        run(self.base + ["up", "--detach", "--no-recreate", "--remove-orphans"], timeout=timeout)

    def open_connections(self, port):
        """Established TCP connections to 127.0.0.1:PORT (None when unknown). Once the
        replica has SIGTERM, it accepts none and closes its idle ones: these are the
        requests still in flight."""
        proc = run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"], check=False)
        return len(proc.stdout.splitlines()) if proc.returncode == 0 else None


def health_probe(port, path, timeout=2):
    """HTTP status of GET http://127.0.0.1:PORT/PATH from the host (None: no answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError, ValueError):
        return None


def load_plan(path):
    """The containers of /etc/app/services.json (written by the app formula): a list of
    {name, service, port, health_path, stop_grace, healthz}. RollError naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            containers = json.load(handle)["containers"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RollError(f"{path}: cannot read the app's services ({exc})") from None
    return containers


def probe(url):
    """(status, replica named in the body or None) of one request through nginx."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            body = response.read(4096)
            status = response.status
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError):
        return None, None
    try:
        replica = json.loads(body).get("replica")
    except (ValueError, AttributeError):
        replica = None
    return status, replica


class Roll:
    """The roll's decisions over a Docker adapter, the app's plan (load_plan's rows), a
    health probe (port, path -> status), an nginx probe and a clock. Here a "service" is
    one compose service: one replica of a declared service."""

    def __init__(self, docker, probe_url, plan, *, probe_fn=probe, health_fn=health_probe,
                 clock=None, say=log, timeout=180, route_timeout=30,
                 settle=6.0):  # fmt: skip
        self.docker = docker
        self.probe_url = probe_url
        self.plan = {row["name"]: row for row in plan}
        self.probe = probe_fn
        self.health_fn = health_fn
        self.clock = clock or Clock()
        self.say = say
        self.timeout = timeout
        self.route_timeout = route_timeout
        self.settle = settle
        self.last = {}  # service -> its last answer to the health probe

    # -- decisions --------------------------------------------------------------------------
    def port(self, service):
        return (self.plan.get(service) or {}).get("port")

    def stop_timeout(self, service):
        return int((self.plan.get(service) or {}).get("stop_grace") or 310)

    def peers(self, service):
        """The other replicas of the same declared service."""
        group = (self.plan.get(service) or {}).get("service")
        return [n for n, row in self.plan.items() if row["service"] == group and n != service]

    def order(self, services):
        """Replicas of replicated services first (they keep serving while one rolls),
        then single ones, each in the plan's order."""
        known = [n for n in self.plan if n in services]
        replicated = [n for n in known if self.peers(n)]
        return replicated + [n for n in known if n not in replicated] + [
            n for n in services if n not in self.plan]

    def where(self, service):
        row = self.plan.get(service) or {}
        if row.get("port") is None:
            return f"{service} (service {row.get('service', service)}, no port)"
        return (f"{service} (service {row['service']}) on "
                f"http://127.0.0.1:{row['port']}{row.get('health_path') or ''}")

    def health(self, container, service):
        """'healthy' (running, and answers 200 on its health path if it has one), 'starting'
        (running, no 200 yet: the last answer in self.last) or Docker's state."""
        state = self.docker.state(container) if container else "missing"
        if state != "running":
            return state
        row = self.plan.get(service) or {}
        if row.get("port") is None or not row.get("health_path"):
            return "healthy"
        status = self.health_fn(row["port"], row["health_path"])
        self.last[service] = status
        return "healthy" if status == 200 else "starting"

    def changed(self, service, container):
        """Whether Compose would recreate the container: its hash differs from the
        compose file's (unknown hashes count as changed; Compose then decides)."""
        want = self.docker.config_hash(service)
        have = self.docker.container_hash(container)
        return want is None or have is None or want != have

    def refuse_last_healthy(self, service, container):
        peers = self.peers(service)
        if not peers or self.health(container, service) != "healthy":
            return
        if not any(self.health(self.docker.container(p), p) == "healthy" for p in peers):
            raise RollError(f"not restarting {service}: no other replica is healthy, "
                            "requests would fail")  # fmt: skip

    # -- waits (each bounded) ---------------------------------------------------------------
    def drain(self, service, container):
        """SIGTERM the replica and wait until it has finished its requests in flight and
        exited, at most stop_timeout (+30 s for Docker itself). Returns (seconds, the
        container's exit code or None, the most requests seen in flight meanwhile)."""
        port = self.port(service)
        grace = self.stop_timeout(service)
        started = self.clock.monotonic()
        stopping = self.docker.start_stop(container, grace)
        deadline = started + grace + 30
        most = 0
        while stopping.poll() is None:
            if self.clock.monotonic() > deadline:
                stopping.kill()
                raise RollError(f"{service}: `docker stop` did not return within "
                                f"{grace + 30}s")  # fmt: skip
            most = max(most, (self.docker.open_connections(port) if port else None) or 0)
            self.clock.sleep(0.5)
        return self.clock.monotonic() - started, self.docker.exit_code(container), most

    def wait_healthy(self, service):
        """Until the replica is healthy (see health), at most self.timeout seconds; a
        container that exited or is gone fails at once. RollError names the replica, its
        service, port and health path and what it last answered."""
        deadline = self.clock.monotonic() + self.timeout
        self.last.pop(service, None)
        state = "missing"
        while self.clock.monotonic() < deadline:
            state = self.health(self.docker.container(service), service)
            if state == "healthy":
                return
            if state in ("exited", "dead", "missing"):
                raise RollError(f"{self.where(service)}: the container is {state}")
            self.clock.sleep(0.5)
        answer = self.last.get(service)
        last = (f"last answer {answer}" if answer is not None else "no answer") \
            if state == "starting" else f"container {state}"
        raise RollError(f"{self.where(service)}: not healthy within {self.timeout}s "
                        f"(expected 200; {last})")

    def wait_routed(self, service):
        """Until nginx's /healthz answered from this replica. An app whose health body does
        not name its replica gets `settle` seconds of good answers instead (nginx retries a
        server it marked failed after fail_timeout)."""
        deadline = self.clock.monotonic() + self.route_timeout
        named = False
        good_since = None
        while self.clock.monotonic() < deadline:
            status, replica = self.probe(self.probe_url)
            if status == 200 and replica == service:
                return "answered"
            named = named or replica is not None
            if status == 200 and not named:
                good_since = good_since or self.clock.monotonic()
                if self.clock.monotonic() - good_since >= self.settle:
                    return f"{self.settle:.0f}s of 200s"
            elif status != 200:
                good_since = None
            self.clock.sleep(0.2)
        raise RollError(f"nginx did not route to {service} within {self.route_timeout}s")

    def hold_for_nginx(self, service):
        """`settle` seconds before the roll goes on. While this replica was down nginx
        counted its refused connections and may have marked it failed (max_fails=3
        fail_timeout=5s, nginx's golden.conf): it sends it nothing until fail_timeout has
        passed, whatever the probe says. Draining the next replica of the same service
        before that would leave nginx no server to send a request to (502). /healthz's
        own upstream never marks a server failed, so its answer cannot tell."""
        self.clock.sleep(self.settle)
        self.say(f"{service}: held {self.settle:.0f}s for nginx to route to it again "
                 "(fail_timeout) before the roll goes on")  # fmt: skip

    # -- the roll ---------------------------------------------------------------------------
    def roll_one(self, service):
        """Drain, recreate and wait for one service; True when it was recreated."""
        t0 = self.clock.monotonic()
        before = self.docker.container(service)
        if before and not self.changed(service, before):
            self.say(f"{service}: unchanged")
            return False
        killed = False
        if before and self.docker.state(before) not in ("exited", "dead", "missing"):
            self.refuse_last_healthy(service, before)
            seconds, code, most = self.drain(service, before)
            killed = code == KILLED
            self.say(f"{service}: drained in {seconds:.1f}s ({most} connection(s) in flight"
                     + ("; killed: requests were cut" if killed else "") + ")")  # fmt: skip
        self.docker.up(service, timeout=self.timeout)
        if self.docker.container(service) == before:
            self.say(f"{service}: started again unchanged")
        self.wait_healthy(service)
        healthy_s = self.clock.monotonic() - t0
        if (self.plan.get(service) or {}).get("healthz"):
            how = self.wait_routed(service)
            self.say(f"{service}: recreated, healthy after {healthy_s:.1f}s, routed by nginx "
                     f"({how}) after {self.clock.monotonic() - t0:.1f}s")  # fmt: skip
        elif not self.peers(service):
            self.say(f"{service}: recreated, healthy after {healthy_s:.1f}s (single replica: "
                     "a short gap)")  # fmt: skip
        if self.port(service) and self.peers(service):
            self.hold_for_nginx(service)
        if killed:
            raise RollError(f"{service} was still serving requests after "
                            f"{self.stop_timeout(service)}s and was killed: a request "
                            "outlasted the timeout chain")  # fmt: skip
        return True

    def serving(self, services):
        """The services whose container is healthy."""
        return [s for s in services if self.health(self.docker.container(s), s) == "healthy"]

    def check(self):
        """Every replica probed once: 0 when all are healthy, else 1 (each one reported)."""
        bad = 0
        for service in self.order(self.docker.services()):
            state = self.health(self.docker.container(service), service)
            answer = self.last.get(service)
            self.say(f"{self.where(service)}: {state}"
                     + (f" (answered {answer})" if state == "starting" else ""))  # fmt: skip
            bad += state != "healthy"
        return 1 if bad else 0

    def start(self):
        """app.service's start (see the module docstring): 0 once every service is healthy."""
        services = self.docker.services()
        serving = self.serving(services)
        if serving:
            self.say(f"already serving ({', '.join(serving)}): rolling changed replicas one "
                     "at a time, starting what is stopped")  # fmt: skip
            self.run()
            code = self.docker.up_all(recreate=False, timeout=self.timeout * len(services))
        else:
            code = self.docker.up_all(recreate=True, timeout=self.timeout * len(services))
        if code != 0:
            self.say(f"compose up --wait exited {code}: checking every service again")
        for service in services:
            self.wait_healthy(service)
        self.say(f"every service healthy: {', '.join(services)}")
        return 0

    def run(self):
        started = self.clock.monotonic()
        services = self.docker.services()
        healthz = [s for s in services if (self.plan.get(s) or {}).get("healthz")]
        if len(healthz) < 2:
            self.say("warning: one replica behind /healthz only: requests fail while it "
                     "restarts")  # fmt: skip
        rolled = sum(self.roll_one(service) for service in self.order(services))
        for service, container in self.docker.orphans(services):
            seconds, _, _ = self.drain(service, container)
            self.say(f"{service}: removed from the compose file, drained in {seconds:.1f}s")
        self.docker.remove_orphans(timeout=self.timeout)
        self.say(f"rolled {rolled} of {len(services)} service(s) one at a time in "
                 f"{self.clock.monotonic() - started:.1f}s")  # fmt: skip
        return 0


RESTART_JOBS = ("restart", "try-restart", "reload-or-restart", "try-reload-or-restart")


def stop_is_for_restart(unit, list_jobs):
    """Whether LIST_JOBS (`systemctl list-jobs --plain --no-legend` output: one job per
    line, "ID UNIT TYPE STATE") holds a restart job of UNIT: systemd runs a restart as the
    unit's stop then its start under one job of type restart."""
    for line in list_jobs.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == unit and fields[2] in RESTART_JOBS:
            return True
    return False


def stop(docker, unit, *, timeout, list_jobs=None, say=log):
    """app.service's stop (see the module docstring). Returns compose stop's exit code, or
    0 when the stop belongs to a restart and the containers keep serving."""
    if list_jobs is None:
        list_jobs = run(["systemctl", "list-jobs", "--plain", "--no-legend"], timeout=30,
                        check=False).stdout  # fmt: skip
    if stop_is_for_restart(unit, list_jobs):
        say(f"{unit} is restarting: the containers keep serving; the start rolls changed "
            "replicas one at a time")  # fmt: skip
        return 0
    return docker.stop_all(timeout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--env-file", default=None, help="compose's interpolation values")
    parser.add_argument("--probe-url", required=True, help="nginx's /healthz on this host")
    parser.add_argument("--unit", default="app.service")
    parser.add_argument(
        "--runtime",
        default="/usr/local/sbin/golden-app-runtime",
        help="rewrites /run/app/runtime.env and limits.env before the roll",
    )
    parser.add_argument(
        "--timeout", type=int, default=180, help="seconds per replica to become healthy"
    )
    parser.add_argument("--route-timeout", type=int, default=30)
    parser.add_argument("--settle", type=float, default=6.0)
    parser.add_argument("--services", default="/etc/app/services.json",
                        help="the app's containers: ports, health paths, stop grace "
                        "periods (written by the app formula)")  # fmt: skip
    parser.add_argument("--check", action="store_true",
                        help="probe every replica once; exit 0 when all are healthy")  # fmt: skip
    parser.add_argument("--start", action="store_true",
                        help="app.service's start: roll when already serving, else start "
                        "everything; succeed only when every service is healthy")  # fmt: skip
    parser.add_argument("--stop", action="store_true",
                        help="app.service's stop: every container, unless the unit is "
                        "restarting (then they keep serving)")  # fmt: skip
    args = parser.parse_args(argv)

    plan = load_plan(args.services)
    if args.stop:
        # compose gives each container its grace period; the unit's TimeoutStopSec is
        # longer still, so this bound only catches a hung docker CLI.
        longest = max((int(row.get("stop_grace") or 0) for row in plan), default=310)
        return stop(Docker(args.project, args.file, args.env_file), args.unit,
                    timeout=longest + 60)
    if args.check:
        return Roll(Docker(args.project, args.file, args.env_file), args.probe_url,
                    plan).check()
    if not args.start and subprocess.run(
        ["systemctl", "is-active", "--quiet", args.unit]
    ).returncode != 0:
        log(f"{args.unit} is not active: nothing to roll (its next start uses the new files)")
        return 0
    if args.runtime:
        run([args.runtime])
    docker = Docker(args.project, args.file, args.env_file)
    roll = Roll(docker, args.probe_url, plan, timeout=args.timeout,
                route_timeout=args.route_timeout, settle=args.settle)  # fmt: skip
    return roll.start() if args.start else roll.run()


if __name__ == "__main__":
    sys.exit(main())
