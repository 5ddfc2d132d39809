"""Load test for the golden image's app role: people using AGENT through its nginx.

Each simulated user opens the site (page, then its CSS/JS once, as a browser caches
them), then, with a think time between actions (uniform --think-min..--think-max,
default 1-5 s, mean 3 s), browses pages, searches (/api/search, retrieval-shaped), reads
a streamed chat answer (/api/chat/stream, server-sent events) and now and then uploads a
1 MB file. A separate, rare user uploads 100 MB every 60-120 s (--large-uploaders, default
1 of the -u users; 0 for none).

Every user sends its own X-Forwarded-For and X-Forwarded-Proto: https, as the ALB does,
so nginx's per-client rate limit sees people rather than one address (--xff-pool N makes
users share N addresses, as behind a NAT).

Bounded: Locust's --run-time, plus --max-seconds (default 600) and --max-requests
(default 500000) that stop the run whatever else is set. Loopback only: --host must be
127.0.0.0/8, ::1 or localhost, unless --allow-remote is given (users on AWS pointing it
at their own ALB URL).

    # 200 users, then 400 users, against the twin on 127.0.0.1:8080
    locust -f tests/load/locustfile.py --headless --host http://127.0.0.1:8080 \\
        -u 200 -r 20 -t 3m --report-csv build/load-200.csv
    locust -f tests/load/locustfile.py --headless --host http://127.0.0.1:8080 \\
        -u 400 -r 40 -t 3m --report-csv build/load-400.csv
    # closed loop (no think time), API only, fast client
    locust -f tests/load/locustfile.py --headless --host http://127.0.0.1:8080 \\
        -u 200 -r 100 -t 1m --think-max 0 --tags api WebUser
    # on AWS, against your ALB
    locust -f tests/load/locustfile.py --headless --allow-remote \\
        --host https://agent-alb-123.eu-west-1.elb.amazonaws.com -u 200 -r 10 -t 10m

At the end it prints p50/p95/p99, throughput and error rate per route as a table and,
with --report-csv, writes them as CSV. `golden bench load` runs this file for its
think-time runs and parses Locust's own --csv output."""

from __future__ import annotations

import itertools
import json
import random
import sys
import time
from pathlib import Path

import gevent
from golden.bench.report import render_table, rows_to_csv
from golden.bench.results import ALL_ROUTES, RouteStats, result_rows
from golden.bench.workload import check_target, client_address, outcome_class
from golden.core.errors import GoldenError
from locust import FastHttpUser, HttpUser, events, tag, task

QUERIES = (
    "how does a release roll back",
    "gunicorn workers per vcpu",
    "nginx upstream keepalive",
    "cloud-init nocloud seed",
    "where are secrets kept",
    "chroma retrieval embeddings",
    "auto scaling instance refresh",
    "hotfix highstate drift report",
)
PAGES = ("/", "/chat/", "/about/")
ASSETS = (
    "/_next/static/css/4f1c2e9a7b3d5c60.css",
    "/_next/static/chunks/app-8d2b6e1f0c4a9e37.js",
)
MIB = 1024 * 1024
# One shared 1 MiB body: random so nothing along the way can compress it away.
ONE_MIB = random.Random(7).randbytes(MIB)
_user_index = itertools.count()


@events.init_command_line_parser.add_listener
def _options(parser):
    group = parser.add_argument_group("golden")
    group.add_argument(
        "--allow-remote",
        action="store_true",
        default=False,
        help="Allow a --host that is not loopback (your own ALB on AWS).",
    )
    group.add_argument("--think-min", type=float, default=1.0, help="Think time minimum (s).")
    group.add_argument(
        "--think-max", type=float, default=5.0, help="Think time maximum (s); 0 = closed loop."
    )
    group.add_argument(
        "--frontend-host",
        default="",
        help="Send page/asset requests here instead of --host (the baseline's "
        "separately served frontend).",
    )
    group.add_argument(
        "--xff-pool",
        type=int,
        default=0,
        help="Users share this many client addresses (0 = one each).",
    )
    group.add_argument("--upload-mb", type=int, default=1, help="Size of the frequent upload.")
    group.add_argument(
        "--large-upload-mb", type=int, default=100, help="Size of LargeUploadUser's upload."
    )
    group.add_argument(
        "--max-requests",
        type=int,
        default=500_000,
        help="Stop after this many requests whatever --run-time says.",
    )
    group.add_argument(
        "--max-seconds",
        type=int,
        default=600,
        help="Stop after this many seconds whatever --run-time says.",
    )
    group.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        help="Seconds after every user is running before statistics restart (first visits "
        "and the ramp are not measured).",
    )
    group.add_argument(
        "--report-csv",
        default="",
        help="Write per-route p50/p95/p99, rps, error rate here at the end.",
    )
    group.add_argument(
        "--outcomes-file",
        default="",
        help="Write every request's outcome class (ok, 429, 4xx, 5xx, reset, timeout, "
        "other) counted, as JSON, here at the end (the release rehearsal reads it).",
    )
    group.add_argument(
        "--large-uploaders",
        type=int,
        default=1,
        help="Users (out of -u) that upload --large-upload-mb every 60-120 s; 0 = none.",
    )


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    # SystemExit passes through Locust's event handling: nothing has been sent yet.
    raise SystemExit(2)


@events.init.add_listener
def _guard(environment, **_):
    opts = environment.parsed_options
    if opts is None:
        return
    try:
        environment.host = check_target(
            environment.host or "", allow_remote=opts.allow_remote, what="--host"
        )
        if opts.frontend_host:
            opts.frontend_host = check_target(
                opts.frontend_host, allow_remote=opts.allow_remote, what="--frontend-host"
            )
    except GoldenError as exc:
        _fail(str(exc))
    closed_loop = opts.think_max == 0
    if (
        opts.think_min < 0
        or opts.think_max < 0
        or (not closed_loop and opts.think_min > opts.think_max)
    ):
        _fail(
            f"--think-min/--think-max: expected 0 <= min <= max (max 0 = closed loop), got "
            f"{opts.think_min}, {opts.think_max}"
        )
    if opts.large_uploaders < 0:
        _fail(f"--large-uploaders: expected >= 0, got {opts.large_uploaders}")
    LargeUploadUser.fixed_count = opts.large_uploaders
    if opts.large_uploaders == 0 and LargeUploadUser in environment.user_classes:
        environment.user_classes.remove(LargeUploadUser)
    if opts.warmup < 0:
        _fail(f"--warmup: expected >= 0 s, got {opts.warmup}")
    for name in ("max_requests", "max_seconds", "upload_mb", "large_upload_mb"):
        if getattr(opts, name) < 1:
            _fail(f"--{name.replace('_', '-')}: expected >= 1, got {getattr(opts, name)}")
    if opts.xff_pool < 0:
        _fail(f"--xff-pool: expected >= 0, got {opts.xff_pool}")
    _Bounds.install(environment)


class _Bounds:
    """Stops the run at --max-requests or --max-seconds, whichever comes first."""

    count = 0
    warm_started = False

    @classmethod
    def install(cls, environment):
        opts = environment.parsed_options

        def on_request(**_):
            cls.count += 1
            if cls.count == opts.max_requests:
                sys.stderr.write(f"--max-requests {opts.max_requests} reached: stopping\n")
                gevent.spawn(environment.runner.quit)

        def deadline():
            gevent.sleep(opts.max_seconds)
            sys.stderr.write(f"--max-seconds {opts.max_seconds} reached: stopping\n")
            environment.runner.quit()

        def warmed_up():
            gevent.sleep(opts.warmup)
            environment.stats.reset_all()
            sys.stderr.write(f"statistics restarted after {opts.warmup:g} s of warm-up\n")

        def on_spawned(**_):
            if opts.warmup > 0 and not cls.warm_started:
                cls.warm_started = True
                gevent.spawn(warmed_up)

        environment.events.request.add_listener(on_request)
        environment.events.spawning_complete.add_listener(on_spawned)
        environment.events.test_start.add_listener(lambda **_: gevent.spawn(deadline))


def _headers(user) -> dict:
    pool = user.environment.parsed_options.xff_pool
    return {
        "X-Forwarded-For": client_address(user.index, pool),
        "X-Forwarded-Proto": "https",
    }


def _frontend_selected(opts) -> bool:
    """Whether --tags/--exclude-tags leave the frontend in (the first visit honours them)."""
    tags = set(opts.tags or ())
    return "frontend" not in set(opts.exclude_tags or ()) and (not tags or "frontend" in tags)


class WebUser(FastHttpUser):
    """A person in a browser: pages, searches, chat answers, 1 MB uploads."""

    weight = 100
    # Generous: a request slower than this is a failure, not a latency figure.
    network_timeout = 60.0
    connection_timeout = 10.0

    def wait_time(self):
        opts = self.environment.parsed_options
        return random.uniform(opts.think_min, opts.think_max) if opts.think_max > 0 else 0

    def on_start(self):
        self.index = next(_user_index)
        self.headers = _headers(self)
        self.front = self.environment.parsed_options.frontend_host
        if not _frontend_selected(self.environment.parsed_options):
            return
        self._page("/")
        for asset in ASSETS:  # once per user: the browser caches them (immutable)
            self._get_front(asset, name="/_next/static/[asset]")

    def _get_front(self, path: str, name: str):
        url = f"{self.front}{path}" if self.front else path
        with self.client.get(url, headers=self.headers, name=name, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")

    def _page(self, path: str):
        self._get_front(path, name=f"page {path}")

    @tag("frontend")
    @task(3)
    def browse(self):
        self._page(random.choice(PAGES))

    @tag("api")
    @task(5)
    def search(self):
        q = random.choice(QUERIES)
        with self.client.get(
            "/api/search",
            params={"q": q},
            headers=self.headers,
            name="/api/search",
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            elif "results" not in (r.text or ""):
                r.failure("no results in the answer")

    @tag("api", "chat")
    @task(1)
    def chat(self):
        with self.client.get(
            "/api/chat/stream",
            params={"q": random.choice(QUERIES), "chunks": 8, "delay_ms": 50},
            headers=self.headers,
            name="/api/chat/stream",
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            elif "event: done" not in (r.text or ""):
                r.failure("stream ended before its done event")

    @tag("api", "upload")
    @task(1)
    def upload(self):
        mb = self.environment.parsed_options.upload_mb
        body = ONE_MIB * mb
        with self.client.post(
            "/api/upload?name=notes.pdf",
            data=body,
            name=f"/api/upload [{mb} MB]",
            headers={**self.headers, "Content-Type": "application/octet-stream"},
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            elif (r.json() or {}).get("size") != len(body):
                r.failure("size in the answer differs from what was sent")


class _Body:
    """A large request body read in 1 MiB pieces, never whole in memory (Content-Length
    comes from __len__)."""

    def __init__(self, size: int):
        self.remaining = size
        self.size = size

    def __len__(self):
        return self.size

    def read(self, n: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        n = MIB if n is None or n < 0 else min(n, MIB)
        n = min(n, self.remaining)
        self.remaining -= n
        return ONE_MIB[:n]


class LargeUploadUser(HttpUser):
    """Rare: one user uploading a large file every 60-120 s."""

    fixed_count = 1
    weight = 1

    def wait_time(self):
        return random.uniform(60, 120)

    def on_start(self):
        self.index = next(_user_index)
        self.headers = _headers(self)
        # The first large upload comes after a wait, like every later one.
        gevent.sleep(random.uniform(5, 30))

    @tag("upload", "large")
    @task
    def large_upload(self):
        mb = self.environment.parsed_options.large_upload_mb
        with self.client.post(
            "/api/upload?name=dataset.bin",
            data=_Body(mb * MIB),
            name=f"/api/upload [{mb} MB]",
            headers={**self.headers, "Content-Type": "application/octet-stream"},
            timeout=120,
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            elif (r.json() or {}).get("size") != mb * MIB:
                r.failure("size in the answer differs from what was sent")


@events.init.add_listener
def _count_outcomes(environment, **_):
    if environment.parsed_options is None or not environment.parsed_options.outcomes_file:
        return

    def on_request(response=None, exception=None, **_):
        code = getattr(response, "status_code", 0) or 0
        cls = outcome_class(code, exception)
        _Outcomes.counts[cls] = _Outcomes.counts.get(cls, 0) + 1

    environment.events.request.add_listener(on_request)


class _Outcomes:
    counts: dict[str, int] = {}


@events.quitting.add_listener
def _write_outcomes(environment, **_):
    opts = environment.parsed_options
    if opts is None or not opts.outcomes_file:
        return
    total = environment.stats.total
    summary = {
        "requests": sum(_Outcomes.counts.values()),
        "classes": dict(sorted(_Outcomes.counts.items())),
        "p95_ms": total.get_response_time_percentile(0.95) if total.num_requests else None,
        "p50_ms": total.get_response_time_percentile(0.5) if total.num_requests else None,
    }
    path = Path(opts.outcomes_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True))


@events.quitting.add_listener
def _report(environment, **_):
    stats = environment.stats
    routes = [
        RouteStats(
            route=entry.name,
            requests=entry.num_requests,
            failures=entry.num_failures,
            rps=round(entry.total_rps, 2),
            p50_ms=entry.get_response_time_percentile(0.5) if entry.num_requests else None,
            p95_ms=entry.get_response_time_percentile(0.95) if entry.num_requests else None,
            p99_ms=entry.get_response_time_percentile(0.99) if entry.num_requests else None,
        )
        for entry in [*sorted(stats.entries.values(), key=lambda e: e.name), stats.total]
    ]
    routes[-1] = RouteStats(
        ALL_ROUTES,
        *[
            getattr(routes[-1], f)
            for f in ("requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms")
        ],
    )
    opts = environment.parsed_options
    runner = environment.runner
    users = runner.target_user_count if runner and runner.target_user_count else 0
    rows = result_rows(
        [{"target": environment.host, "kind": "locust", "load": users, "routes": routes}]
    )
    columns = ("route", "requests", "rps", "p50_ms", "p95_ms", "p99_ms", "errors", "error_pct")
    think = (
        f"think time {opts.think_min:g}-{opts.think_max:g} s"
        if opts and opts.think_max
        else "closed loop (no think time)"
    )
    sys.stdout.write(
        f"\n{environment.host}, {users} users, {think}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
    )
    sys.stdout.write(render_table(rows, columns) + "\n")
    if opts and opts.report_csv:
        path = Path(opts.report_csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rows_to_csv(rows, ("load", *columns)))
        sys.stdout.write(f"CSV: {path}\n")
