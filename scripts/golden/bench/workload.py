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

# The layouts the bench can compare, in the order each round visits them: the seed's
# single uvicorn, the plan's own gunicorn layout, the golden image.
LAYOUTS = ("baseline", "plan", "golden")
# Its parts: think-time runs (Locust), closed loop (wrk), nginx's overhead, the large upload.
PARTS = ("think", "closed", "nginx", "upload")
# The parts that measure only some layouts: nginx's overhead is inside the twin; the
# upload compares the image with the seed, as the target asks.
PART_LAYOUTS = {"nginx": ("golden",), "upload": ("baseline", "golden")}
# The plan's `gunicorn -w 4`.
PLAN_WORKERS = 4


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
    layouts: tuple[str, ...] = LAYOUTS
    parts: tuple[str, ...] = PARTS
    plan_workers: int = PLAN_WORKERS

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
        self._validate_selection()
        return self

    def _validate_selection(self) -> None:
        parse_names(",".join(self.layouts), "--layouts", LAYOUTS)
        parse_names(",".join(self.parts), "--parts", PARTS)
        for part in self.parts:
            needs = PART_LAYOUTS.get(part)
            if needs and not set(needs) & set(self.layouts):
                raise ConfigError(
                    f"--parts: {part} measures the {' or '.join(needs)} layout, which "
                    f"--layouts leaves out ({','.join(self.layouts)})"
                )
        if not 1 <= self.plan_workers <= 64:
            raise ConfigError(f"--plan-workers: expected 1..64, got {self.plan_workers}")

    def part_layouts(self, part: str) -> tuple[str, ...]:
        """The selected layouts ``part`` measures, in LAYOUTS order (none if the part is
        not selected)."""
        if part not in self.parts:
            return ()
        return tuple(n for n in self.layouts if n in PART_LAYOUTS.get(part, LAYOUTS))

    @property
    def warmup_seconds(self) -> int:
        # Longer than the longest think time: every user has had its first visit.
        return max(6, math.ceil(self.think_max) + 1)

    def ramp_seconds(self, users: int) -> int:
        return math.ceil(users / self.spawn_rate)

    def estimate_seconds(self, boot_seconds: float = 30.0) -> float:
        """Wall time of the whole bench (s), for the plan printed before it starts: the
        selected parts over the layouts each measures, plus ``boot_seconds``."""
        think = sum(
            self.think_seconds + self.ramp_seconds(n) + self.warmup_seconds + 8 for n in self.levels
        )
        closed = len(self.saturation_connections) * (self.saturation_seconds + 3)
        overhead = 2 * (self.overhead_seconds + 2)
        return (
            len(self.part_layouts("think")) * think
            + len(self.part_layouts("closed")) * closed
            + (overhead if self.part_layouts("nginx") else 0)
            + 8 * len(self.part_layouts("upload"))
            + boot_seconds
        )


QUICK = Plan(
    levels=(200,),
    think_seconds=12,
    spawn_rate=100,
    saturation_connections=(200,),
    saturation_seconds=6,
    overhead_seconds=6,
)


def interleaved(layouts: tuple[str, ...], rounds: int) -> list[tuple[int, str]]:
    """The order of the closed loop's runs at one connection count: round 1 of every
    layout (in ``layouts``' order), then round 2 of every layout, and so on; as
    (round number from 1, layout) pairs. A burst of other work on the machine then lands
    on every layout alike instead of on whichever ran during it."""
    return [(r, name) for r in range(1, rounds + 1) for name in layouts]


def _ints(value: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{option}: expected comma-separated integers, got {value!r}") from None


def parse_names(value: str, option: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A comma list of names (``--layouts``, ``--parts``) as a tuple in ``allowed``'s
    order, repeats dropped. Raises ConfigError naming ``option``, the names it does not
    know and the allowed ones, or that the list is empty."""
    given = [v.strip().lower() for v in (value or "").split(",") if v.strip()]
    unknown = [v for v in given if v not in allowed]
    if unknown or not given:
        what = f"unknown {', '.join(repr(v) for v in unknown)}" if unknown else "nothing given"
        raise ConfigError(
            f"{option}: {what}; expected a comma list of {','.join(allowed)}"
        )
    return tuple(name for name in allowed if name in given)


def plan_from_options(
    *,
    quick: bool = False,
    levels: str | None = None,
    duration: int | None = None,
    connections: str | None = None,
    closed_seconds: int | None = None,
    think: str | None = None,
    layouts: str | None = None,
    parts: str | None = None,
    plan_workers: int | None = None,
) -> Plan:
    """The validated plan for `golden bench load`'s options: the default plan (or QUICK
    with ``quick``) with each option that is given in its place. ``levels`` and
    ``connections`` are comma-separated integers, ``think`` is "MIN,MAX" seconds,
    ``duration`` and ``closed_seconds`` are seconds, ``layouts`` and ``parts`` comma lists
    of LAYOUTS and PARTS, ``plan_workers`` the plan layout's gunicorn workers; unset (None,
    empty or 0) keeps the plan's value, except that without ``parts`` only the parts that
    measure a selected layout run. Raises ConfigError naming the option for a malformed or
    out-of-range value, or for a part none of the selected layouts takes part in."""
    plan = QUICK if quick else Plan()
    changes: dict = {}
    if layouts:
        changes["layouts"] = parse_names(layouts, "--layouts", LAYOUTS)
        if not parts:
            chosen = changes["layouts"]
            changes["parts"] = tuple(
                p for p in PARTS if set(PART_LAYOUTS.get(p, LAYOUTS)) & set(chosen)
            )
    if parts:
        changes["parts"] = parse_names(parts, "--parts", PARTS)
    if plan_workers:
        changes["plan_workers"] = plan_workers
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
