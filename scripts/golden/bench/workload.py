"""What `golden bench load` sends and how much: the plan (user counts, think time, run
lengths), its parsing from the command's options, the loopback guard and per-user client
addresses the Locust file uses, the files that drive Locust and wrk, and the twin's seed
for the bench.

Pure: no docker, /proc or subprocess. tests/load/locustfile.py imports this module inside
Locust's gevent-patched process."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from golden.core.errors import ConfigError

# Per-user client addresses for X-Forwarded-For come from the benchmarking range of
# RFC 2544: header values only, never a destination.
XFF_NETWORK = ipaddress.ip_network("198.18.0.0/15")
LOOPBACK_NAMES = ("localhost",)

# The workload itself lives with the load tests: the bench runs from a checkout.
LOCUSTFILE = Path(__file__).resolve().parents[3] / "tests" / "load" / "locustfile.py"
WRK_SCRIPT = LOCUSTFILE.parent / "xff.lua"
# What the closed loop and the nginx-overhead runs ask: one retrieval-shaped search.
SEARCH_PATH = "/api/search?q=how+does+a+release+roll+back"


def check_target(url: str, *, allow_remote: bool = False, what: str = "--host") -> str:
    """The base URL a load generator may send to: loopback unless ``allow_remote``.

    Only literal loopback addresses and ``localhost`` pass: a name is not resolved, so a
    name that happens to resolve to 127.0.0.1 today cannot point elsewhere tomorrow."""
    if not url or not isinstance(url, str):
        raise ConfigError(f"{what}: expected a URL like http://127.0.0.1:8080, got {url!r}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{what}: expected an http:// or https:// URL, got {url!r}")
    host = parts.hostname
    if not host:
        raise ConfigError(f"{what}: no host in {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConfigError(f"{what}: malformed port in {url!r}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{what}: expected a base URL without path or query, got {url!r}")
    if not (is_loopback_host(host) or allow_remote):
        raise ConfigError(
            f"{what}: {host!r} is not a loopback address; load is sent to 127.0.0.0/8, ::1 or "
            "localhost only. To load your own load balancer on AWS pass --allow-remote."
        )
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def client_address(index: int, pool: int = 0) -> str:
    """The X-Forwarded-For address of simulated user ``index``: one each by default, or
    ``pool`` shared addresses (users behind one NAT)."""
    if index < 0 or pool < 0:
        raise ConfigError(f"client index and pool must be >= 0, got {index}, {pool}")
    slot = index % pool if pool else index
    usable = XFF_NETWORK.num_addresses - 2
    return str(XFF_NETWORK.network_address + 1 + slot % usable)


def bench_seed_files(instance_id: str) -> dict[str, str]:
    """The twin's NoCloud seed for the bench: no instance document, and the boot step's
    build marker set by cloud-init before golden-boot runs (bootcmd, init stage). The boot
    step then writes the app environment it writes during a bake (no shared services), so
    the twin's backend runs the same in-process retrieval as the baseline: same app, same
    configuration, only the layout differs. An image without the boot step ignores it."""
    return {
        "meta-data": f"instance-id: {instance_id}\nlocal-hostname: {instance_id}\n",
        "user-data": (
            "#cloud-config\n"
            "# golden bench load: no shared services; the app runs as in a bake.\n"
            "bootcmd:\n"
            "  - [mkdir, -p, /run/golden]\n"
            "  - [touch, /run/golden/build]\n"
        ),
    }


@dataclass(frozen=True)
class Plan:
    levels: tuple[int, ...] = (100, 200, 400, 800)
    think_seconds: int = 35
    spawn_rate: int = 50
    think_min: float = 1.0
    think_max: float = 5.0
    saturation_connections: tuple[int, ...] = (50, 200)
    saturation_seconds: int = 45
    overhead_connections: int = 8
    overhead_seconds: int = 10
    upload_mb: int = 100

    def validate(self) -> Plan:
        if not self.levels or any(n < 1 or n > 2000 for n in self.levels):
            raise ConfigError(f"--levels: expected user counts in 1..2000, got {self.levels}")
        conns = (*self.saturation_connections, self.overhead_connections)
        if not self.saturation_connections or any(c < 2 or c > 4000 for c in conns):
            raise ConfigError(
                f"--connections: expected counts in 2..4000 (wrk runs 2 threads), got {conns}"
            )
        for name in ("think_seconds", "saturation_seconds", "overhead_seconds"):
            value = getattr(self, name)
            if not 5 <= value <= 600:
                raise ConfigError(f"--{name.replace('_', '-')}: expected 5..600 s, got {value}")
        if not 0 <= self.think_min <= self.think_max <= 60:
            raise ConfigError(
                f"--think: expected 0 <= min <= max <= 60 s, got {self.think_min}..{self.think_max}"
            )
        if self.spawn_rate < 1:
            raise ConfigError(f"--spawn-rate: expected >= 1, got {self.spawn_rate}")
        if not 1 <= self.upload_mb <= 100:
            raise ConfigError(
                f"--upload-mb: expected 1..100 (nginx allows 100m), got {self.upload_mb}"
            )
        return self

    @property
    def warmup_seconds(self) -> int:
        # Longer than the longest think time: every user has had its first visit.
        return max(6, math.ceil(self.think_max) + 1)

    def ramp_seconds(self, users: int) -> int:
        return math.ceil(users / self.spawn_rate)

    def estimate_seconds(self, boot_seconds: float = 30.0) -> float:
        """Wall time of the whole bench, for the plan printed before it starts."""
        per_target = sum(
            self.think_seconds + self.ramp_seconds(n) + self.warmup_seconds + 8 for n in self.levels
        )
        per_target += len(self.saturation_connections) * (self.saturation_seconds + 3)
        overhead = 2 * (self.overhead_seconds + 2)
        upload = 2 * 8
        return 2 * per_target + overhead + upload + boot_seconds


QUICK = Plan(
    levels=(200,),
    think_seconds=12,
    spawn_rate=100,
    saturation_connections=(200,),
    saturation_seconds=6,
    overhead_seconds=6,
)


def _ints(value: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{option}: expected comma-separated integers, got {value!r}") from None


def plan_from_options(
    *,
    quick: bool = False,
    levels: str | None = None,
    duration: int | None = None,
    connections: str | None = None,
    closed_seconds: int | None = None,
    think: str | None = None,
) -> Plan:
    """The validated plan for `golden bench load`'s options: the default plan (or QUICK
    with ``quick``) with each option that is given in its place. ``levels`` and
    ``connections`` are comma-separated integers, ``think`` is "MIN,MAX" seconds,
    ``duration`` and ``closed_seconds`` are seconds; unset (None, empty or 0) keeps the
    plan's value. Raises ConfigError naming the option for a malformed or out-of-range
    value."""
    plan = QUICK if quick else Plan()
    changes = {}
    if levels:
        changes["levels"] = _ints(levels, "--levels")
    if duration:
        changes["think_seconds"] = duration
    if connections:
        changes["saturation_connections"] = _ints(connections, "--connections")
    if closed_seconds:
        changes["saturation_seconds"] = closed_seconds
    if think:
        try:
            lo, hi = (float(v) for v in think.split(","))
        except ValueError:
            raise ConfigError(f"--think: expected MIN,MAX seconds, got {think!r}") from None
        changes.update(think_min=lo, think_max=hi)
    return replace(plan, **changes).validate()


# Exception texts of the HTTP clients Locust uses (requests, geventhttpclient) that mean
# the connection was cut or refused, or that time ran out.
_RESET_WORDS = ("reset", "refused", "broken pipe", "remotedisconnected", "connection aborted",
                "closed", "eof")  # fmt: skip
_TIMEOUT_WORDS = ("timed out", "timeout")


def outcome_class(status_code: int, exception: BaseException | None) -> str:
    """One request's outcome: ok (1xx-3xx, no failure), 429 (rate limited: counted apart
    from failures), 4xx, 5xx, reset, timeout, or other (an answer that failed a check,
    or an error of no known kind). Status code 0 means no HTTP answer arrived."""
    if status_code >= 500:
        return "5xx"
    if status_code == 429:
        return "429"
    if status_code >= 400:
        return "4xx"
    if exception is None and 100 <= status_code < 400:
        return "ok"
    if status_code:
        return "other"
    text = f"{type(exception).__name__} {exception}".lower()
    if any(word in text for word in _TIMEOUT_WORDS):
        return "timeout"
    if any(word in text for word in _RESET_WORDS):
        return "reset"
    return "other"
