"""HAProxy standing in for the Application Load Balancer in a rehearsal.

What an ALB does with a target group, HAProxy (Debian's 2.6 package) does for real here:
active HTTP health checks built from the target group's settings (path, interval, timeout,
healthy and unhealthy threshold counts, success codes), connection draining for the
deregistration delay, and targets added and removed at run time through its runtime API
(`add server`, `set server ... state drain`, `del server`) as instances register and
deregister. Target health reported to the AWS emulator (DescribeTargetHealth) is read from
HAProxy's own check results (`show stat`), never from a flag.

Pure parts (config text, check regex, health mapping, stat parsing) are functions over
plain data; `Balancer` is the thin adapter around the process and its socket.

Where HAProxy and an ALB differ, the ALB's behaviour is approximated and named here:
- ALB health check states map from HAProxy's server status: a target that has never been
  UP is ``initial`` until it fails UnhealthyThresholdCount checks, then ``unhealthy``;
  UP is ``healthy``; DOWN after having been UP is ``unhealthy``; a deregistered target
  is ``draining`` until the delay ends and then removed (``unused`` is never reported,
  as DescribeTargetHealth drops a target once deregistered).
- The ALB appends the client address to X-Forwarded-For; here every simulated user
  already names its own address in X-Forwarded-For (they all share 127.0.0.1), and
  HAProxy passes it on unchanged as the address the ALB would have appended.
- An ALB never retries a request on another target; neither does this configuration.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from golden.core.errors import ConfigError, OperationFailed

# AWS ELB documentation (Target group health checks): HealthCheckIntervalSeconds 5-300,
# HealthyThresholdCount / UnhealthyThresholdCount 2-10, Matcher "200" or "200,202" or
# "200-299" for HTTP. The defaults below are the ALB's.
DEFAULT_IDLE_TIMEOUT = 60


@dataclass(frozen=True)
class HealthCheck:
    """A target group's health check, in the ELB API's terms (seconds, counts)."""

    path: str = "/"
    port: str = "traffic-port"
    interval: int = 30
    timeout: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"

    @classmethod
    def from_target_group(cls, tg: dict) -> HealthCheck:
        """From a DescribeTargetGroups entry (absent fields take the ALB defaults)."""
        return cls(
            path=tg.get("HealthCheckPath") or "/",
            port=str(tg.get("HealthCheckPort") or "traffic-port"),
            interval=int(tg.get("HealthCheckIntervalSeconds") or 30),
            timeout=int(tg.get("HealthCheckTimeoutSeconds") or 5),
            healthy_threshold=int(tg.get("HealthyThresholdCount") or 5),
            unhealthy_threshold=int(tg.get("UnhealthyThresholdCount") or 2),
            matcher=((tg.get("Matcher") or {}).get("HttpCode") or "200"),
        )


@dataclass(frozen=True)
class TargetGroup:
    """What the balancer needs of one target group: its backend name and check."""

    arn: str
    name: str
    port: int
    check: HealthCheck
    deregistration_delay: float = 300.0


@dataclass(frozen=True)
class BalancerSpec:
    """One listener (127.0.0.1:port) forwarding to ``default`` (a target group name).

    ``time_scale`` multiplies every interval and delay (rehearsals run real time scaled
    down, like the emulator's waits); HAProxy gets at least 200 ms between checks."""

    port: int
    target_groups: tuple[TargetGroup, ...]
    default: str
    folder: Path
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    time_scale: float = 1.0

    @property
    def socket_path(self) -> Path:
        return self.folder / "admin.sock"

    @property
    def pid_path(self) -> Path:
        return self.folder / "haproxy.pid"

    @property
    def config_path(self) -> Path:
        return self.folder / "haproxy.cfg"


def matcher_regex(matcher: str) -> str:
    """The ELB Matcher (``200``, ``200,202``, ``200-299``) as a regex over the status code.

    Raises ConfigError naming the matcher when it is not codes and ranges of 100-599."""
    parts = []
    for item in matcher.split(","):
        item = item.strip()
        bounds = item.split("-")
        if not item or len(bounds) > 2 or not all(b.isdigit() and len(b) == 3 for b in bounds):
            raise ConfigError(
                f"target group Matcher {matcher!r}: expected HTTP codes like 200, 200,202 "
                f"or 200-299"
            )
        low, high = int(bounds[0]), int(bounds[-1])
        if not 100 <= low <= high <= 599:
            raise ConfigError(f"target group Matcher {matcher!r}: codes must be 100-599")
        parts.extend(str(code) for code in range(low, high + 1))
    return "^(" + "|".join(parts) + ")$"


def _ms(seconds: float, scale: float, floor_ms: int = 200) -> int:
    return max(floor_ms, round(seconds * scale * 1000))


def backend_name(tg: TargetGroup) -> str:
    """HAProxy names allow letters, digits, '-', '_', '.' and ':'."""
    return "tg_" + re.sub(r"[^A-Za-z0-9_.:-]", "_", tg.name)


def render_config(spec: BalancerSpec) -> str:
    """The whole haproxy.cfg: a stats socket, one frontend on 127.0.0.1, one backend per
    target group with the group's health check and no static servers (targets arrive
    through the runtime API)."""
    names = {tg.name for tg in spec.target_groups}
    if spec.default not in names:
        raise ConfigError(f"listener default target group {spec.default!r} is not one of {names}")
    idle = _ms(spec.idle_timeout, 1.0)
    lines = [
        "global",
        f"    stats socket {spec.socket_path} mode 600 level admin",
        "    # The target checks log through the emulator, not syslog.",
        "    log stdout format raw local0 notice",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option dontlognull",
        # An ALB sends each request once: no retries, no redispatch to another target.
        "    retries 0",
        "    timeout connect 5s",
        f"    timeout client {idle}ms",
        f"    timeout server {idle}ms",
        f"    timeout http-keep-alive {idle}ms",
        "",
        "frontend alb",
        f"    bind 127.0.0.1:{spec.port}",
        f"    default_backend {backend_name(_by_name(spec, spec.default))}",
    ]
    for tg in spec.target_groups:
        check = tg.check
        path = check.path if check.path.startswith("/") else "/" + check.path
        lines += [
            "",
            f"backend {backend_name(tg)}",
            "    balance roundrobin",
            f"    option httpchk GET {path}",
            f"    http-check expect rstatus {matcher_regex(check.matcher)}",
            f"    timeout check {_ms(check.timeout, spec.time_scale)}ms",
            f"    default-server inter {_ms(check.interval, spec.time_scale)}ms "
            f"rise {check.healthy_threshold} fall {check.unhealthy_threshold}",
        ]
    return "\n".join(lines) + "\n"


def _by_name(spec: BalancerSpec, name: str) -> TargetGroup:
    return next(tg for tg in spec.target_groups if tg.name == name)


def parse_stat(text: str) -> list[dict[str, str]]:
    """`show stat` CSV (header line starts with '# ') as one dict per row."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return []
    reader = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    return [dict(row) for row in reader]


# srv_admin_state bit of a server put in drain over the runtime API (HAProxy's
# SRV_ADMF_FDRAIN, src/server.h); `show stat` says DRAIN only while such a server is UP.
ADMIN_FORCED_DRAIN = 0x08


def drained_servers(servers_state: str) -> set[str]:
    """Names of the servers in forced drain, from `show servers state BACKEND` (version
    line, a '# ' header naming the columns, one line per server)."""
    lines = [line.split() for line in servers_state.splitlines() if line.strip()]
    header = next((line[1:] for line in lines if line and line[0] == "#"), None)
    if not header or "srv_name" not in header or "srv_admin_state" not in header:
        return set()
    name, admin = header.index("srv_name"), header.index("srv_admin_state")
    out = set()
    for fields in lines:
        if fields[0] == "#" or len(fields) <= max(name, admin) or not fields[admin].isdigit():
            continue
        if int(fields[admin]) & ADMIN_FORCED_DRAIN:
            out.add(fields[name])
    return out


# HAProxy check_status -> the ELB reason code a failing target shows.
_REASONS = {
    "L7STS": "Target.ResponseCodeMismatch",
    "L7TOUT": "Target.Timeout",
    "L4TOUT": "Target.Timeout",
    "L4CON": "Target.FailedHealthChecks",
    "L7RSP": "Target.FailedHealthChecks",
    "SOCKERR": "Target.FailedHealthChecks",
}


_PASSING = ("L4OK", "L6OK", "L7OK", "INI", "")


def target_state(
    row: dict[str, str],
    unhealthy_threshold: int,
    draining: bool,
    *,
    was_up: bool = False,
    checks_run: int | None = None,
) -> dict:
    """One server's stat row -> an ELB TargetHealth dict (State, Reason, Description).

    ``was_up``: the server has been UP since it was registered. ``checks_run``: how many
    checks have had time to run since it was registered (HAProxy counts failed checks
    only while a server is up, so a target that never came up is judged by time: once
    UnhealthyThresholdCount checks could have run and the last one failed, it is
    unhealthy, as the ALB marks it); None = judge by HAProxy's own failure count."""
    if draining:
        return {
            "State": "draining",
            "Reason": "Target.DeregistrationInProgress",
            "Description": "Target deregistration is in progress",
        }
    status = (row.get("status") or "").split()[0] if row.get("status") else ""
    check = row.get("check_status") or ""
    if status == "UP":
        return {"State": "healthy"}
    if checks_run is None:
        failures = int(row.get("chkfail") or 0)
    else:
        last_failed = check.lstrip("* ").strip() not in _PASSING
        failures = checks_run if last_failed else 0
    if not was_up and failures < unhealthy_threshold:
        return {
            "State": "initial",
            "Reason": "Elb.InitialHealthChecking",
            "Description": "Initial health checks in progress",
        }
    code = row.get("check_code") or ""
    return {
        "State": "unhealthy",
        "Reason": _REASONS.get(check.lstrip("*"), "Target.FailedHealthChecks"),
        "Description": f"Health checks failed ({check or 'no result'}"
        + (f", code {code}" if code else "")
        + ")",
    }


def backend_counts(rows: list[dict[str, str]], backend: str) -> dict[str, int]:
    """Cumulative request and response counts of one backend (its BACKEND row)."""
    for row in rows:
        if row.get("pxname") == backend and row.get("svname") == "BACKEND":
            return {
                key: int(row.get(key) or 0)
                for key in ("stot", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "econ", "eresp")
            }
    return {}


@dataclass
class Balancer:
    """The HAProxy process of one rehearsal and its runtime API (admin socket)."""

    spec: BalancerSpec
    binary: str = "haproxy"
    _draining: dict[str, float] = field(default_factory=dict)
    # Servers seen UP since they were registered: DOWN after that is unhealthy at once.
    _up: set[str] = field(default_factory=set)
    _registered: dict[str, float] = field(default_factory=dict)

    # -- process -----------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Write the config, check it (`haproxy -c`), start HAProxy daemonised and wait
        for its socket. Raises PreflightError-like OperationFailed on a bad config."""
        self.spec.folder.mkdir(parents=True, exist_ok=True)
        self.spec.config_path.write_text(render_config(self.spec))
        check = subprocess.run(
            [self.binary, "-c", "-f", str(self.spec.config_path)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if check.returncode != 0:
            raise OperationFailed(f"haproxy config check failed:\n{check.stderr.strip()}")
        log = open(self.spec.folder / "haproxy.log", "ab")  # noqa: SIM115 - handed to the process
        try:
            subprocess.run(
                [self.binary, "-D", "-p", str(self.spec.pid_path), "-f",
                 str(self.spec.config_path)],
                stdout=log, stderr=log, timeout=30, check=True,
            )  # fmt: skip
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                self.command("show info")
                return
            time.sleep(0.1)
        raise OperationFailed(f"haproxy did not open {self.spec.socket_path} in {timeout:.0f}s")

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(self.spec.pid_path.read_text().split()[0])
        return None

    def stop(self) -> bool:
        """Stop the process if it runs; True when there was one."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            self.spec.pid_path.unlink()
        return True

    # -- runtime API -------------------------------------------------------------------
    def command(self, text: str, timeout: float = 5.0) -> str:
        """One runtime API command over the admin socket; its whole answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.spec.socket_path))
            sock.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def _target_group(self, arn: str) -> TargetGroup:
        for tg in self.spec.target_groups:
            if tg.arn == arn:
                return tg
        raise KeyError(arn)

    def register(self, arn: str, target_id: str, address: str, port: int) -> None:
        """Add a target as a server with health checks on; it takes traffic only once
        HAProxy's checks pass `rise` times (the ALB's initial state)."""
        tg = self._target_group(arn)
        server = f"{backend_name(tg)}/{target_id}"
        # HAProxy starts a new server UP and would route to it at once; an ALB routes to a
        # target only after HealthyThresholdCount passing checks. So it is added with
        # weight 0 (no traffic), forced DOWN, then weighted: `rise` passing checks bring
        # it up.
        answer = self.command(f"add server {server} {address}:{port} check weight 0")
        if "registered" not in answer and "already exists" not in answer:
            raise OperationFailed(f"haproxy: add server {server}: {answer.strip()}")
        self._draining.pop(server, None)
        self._up.discard(server)
        self._registered[server] = time.monotonic()
        self.command(f"enable health {server}")
        self.command(f"enable server {server}")
        self.command(f"set server {server} health down")
        self.command(f"set server {server} weight 1")

    def drain(self, arn: str, target_id: str) -> None:
        """Stop sending new requests to the target; requests in flight go on."""
        server = f"{backend_name(self._target_group(arn))}/{target_id}"
        self._draining[server] = time.monotonic()
        self.command(f"set server {server} state drain")

    def remove(self, arn: str, target_id: str) -> str:
        """After the deregistration delay: maintenance, close what is left, delete.
        Returns HAProxy's answer to the deletion ("Server deleted." when it was)."""
        server = f"{backend_name(self._target_group(arn))}/{target_id}"
        self.command(f"set server {server} state maint")
        self.command(f"shutdown sessions server {server}")
        answer = self.command(f"del server {server}")
        self._draining.pop(server, None)
        self._registered.pop(server, None)
        self._up.discard(server)
        return answer

    def stat_rows(self) -> list[dict[str, str]]:
        return parse_stat(self.command("show stat"))

    def target_health(self, arn: str) -> dict[str, dict]:
        """Target id -> ELB TargetHealth for every server in the target group's backend."""
        tg = self._target_group(arn)
        backend = backend_name(tg)
        # Read from HAProxy, not this object: the emulator's runtime drains targets
        # through its own Balancer of the same process.
        drained = drained_servers(self.command(f"show servers state {backend}"))
        out = {}
        for row in self.stat_rows():
            if row.get("pxname") != backend or row.get("svname") in ("FRONTEND", "BACKEND"):
                continue
            server = f"{backend}/{row['svname']}"
            if (row.get("status") or "").startswith("UP"):
                self._up.add(server)
            registered = self._registered.get(server)
            interval = max(0.2, tg.check.interval * self.spec.time_scale)
            checks = None if registered is None else int((time.monotonic() - registered) / interval)
            out[row["svname"]] = target_state(
                row, tg.check.unhealthy_threshold,
                server in self._draining or row["svname"] in drained,
                was_up=server in self._up, checks_run=checks,
            )  # fmt: skip
        return out

    def active_sessions(self, arn: str, target_id: str) -> int:
        backend = backend_name(self._target_group(arn))
        for row in self.stat_rows():
            if row.get("pxname") == backend and row.get("svname") == target_id:
                return int(row.get("scur") or 0)
        return 0
