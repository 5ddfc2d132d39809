#!/usr/bin/python3
"""golden-app-roll: apply a changed compose file or env file to the running app, one
replica at a time, so nginx always has a healthy backend to send requests to.

Run by the app formula when /opt/app/compose.yaml, /etc/app/app-settings.env or the
runtime settings change (and by `systemctl reload app`). For each backend replica in turn:
`docker compose up -d --no-deps REPLICA` (Compose recreates it only when its
configuration changed), then wait until Docker reports it healthy and nginx's /healthz
has answered from it, before the next replica. While one replica restarts, nginx sends
its requests to the others (proxy_next_upstream). Other services (the frontend) follow;
a single-replica service has a short gap. Orphans (replicas removed from the compose
file) go last, after nginx has stopped routing to them.

Every wait is bounded; a replica that does not come back stops the roll with exit 1,
leaving the remaining replicas untouched on their old configuration. When app.service is
not active nothing is rolled: its next start uses the new files.
"""

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request


def log(message):
    print(message, flush=True)


def run(argv, timeout=300, check=True):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise SystemExit(
            f"golden-app-roll: {' '.join(argv[:6])} failed (exit "
            f"{proc.returncode}): {(proc.stderr or proc.stdout).strip()[-600:]}"
        )
    return proc


class Compose:
    def __init__(self, project, file, env_file=None):
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

    def up(self, service, timeout):
        run(self.base + ["up", "--detach", "--no-deps", service], timeout=timeout)

    def remove_orphans(self, timeout):
        run(self.base + ["up", "--detach", "--no-recreate", "--remove-orphans"], timeout=timeout)


def health(container):
    """'healthy', 'unhealthy', 'starting', 'running' (no healthcheck) or another state."""
    proc = run(
        [
            "docker",
            "inspect",
            "--format",
            "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
            container,
        ],
        check=False,
    )
    parts = proc.stdout.split()
    if not parts:
        return "missing"
    if parts[0] != "running":
        return parts[0]
    return parts[1] if len(parts) > 1 else "running"


def wait_healthy(compose, service, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container = compose.container(service)
        state = health(container) if container else "missing"
        if state in ("healthy", "running"):
            return
        if state == "unhealthy":
            raise SystemExit(f"golden-app-roll: {service} is unhealthy after the restart")
        time.sleep(0.5)
    raise SystemExit(f"golden-app-roll: {service} not healthy within {timeout}s")


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


def wait_routed(url, service, timeout, settle):
    """Until nginx's /healthz answered from this replica. An app whose health body does
    not name its replica gets `settle` seconds of good answers instead (nginx retries a
    server it marked failed after fail_timeout)."""
    deadline = time.monotonic() + timeout
    named = False
    good_since = None
    while time.monotonic() < deadline:
        status, replica = probe(url)
        if status == 200 and replica == service:
            return "answered"
        named = named or replica is not None
        if status == 200 and not named:
            good_since = good_since or time.monotonic()
            if time.monotonic() - good_since >= settle:
                return f"{settle:.0f}s of 200s"
        elif status != 200:
            good_since = None
        time.sleep(0.2)
    raise SystemExit(f"golden-app-roll: nginx did not route to {service} within {timeout}s")


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
    args = parser.parse_args(argv)

    if subprocess.run(["systemctl", "is-active", "--quiet", args.unit]).returncode != 0:
        log(f"{args.unit} is not active: nothing to roll (its next start uses the new files)")
        return 0
    if args.runtime:
        run([args.runtime])
    compose = Compose(args.project, args.file, args.env_file)
    services = compose.services()
    backends = sorted((s for s in services if s.startswith("backend-")), key=lambda s: (len(s), s))
    others = [s for s in services if s not in backends]
    started = time.monotonic()
    rolled = 0
    if len(backends) < 2:
        log("warning: one backend replica only: requests fail while it restarts")
    for service in backends + others:
        before = compose.container(service)
        peers = [b for b in backends if b != service]
        if (
            service in backends
            and before
            and health(before) == "healthy"
            and peers
            and not any(health(c) == "healthy" for c in filter(None, map(compose.container, peers)))
        ):
            raise SystemExit(
                f"golden-app-roll: not restarting {service}: no other replica is "
                f"healthy, requests would fail"
            )
        t0 = time.monotonic()
        compose.up(service, timeout=args.timeout)
        after = compose.container(service)
        if after == before:
            log(f"{service}: unchanged")
            continue
        rolled += 1
        wait_healthy(compose, service, args.timeout)
        healthy_s = time.monotonic() - t0
        if service in backends:
            how = wait_routed(args.probe_url, service, args.route_timeout, args.settle)
            log(
                f"{service}: recreated, healthy after {healthy_s:.1f}s, routed by nginx "
                f"({how}) after {time.monotonic() - t0:.1f}s"
            )
        else:
            log(
                f"{service}: recreated, healthy after {healthy_s:.1f}s (single replica: "
                "a short gap)"
            )
    compose.remove_orphans(timeout=args.timeout)
    log(
        f"rolled {rolled} of {len(services)} service(s) one at a time in "
        f"{time.monotonic() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
