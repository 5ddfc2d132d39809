"""Where the manual (docs/*.md, README.md) states a value the code or pillar also holds
(ports, timeouts, restart policies, replica counts, limits, paths), the two agree.

Each claim below is a pattern in a page with one captured value and the source that
value mirrors, read from the source itself (defaults files, pillar, templates, constants),
never written here a second time. A page that no longer makes a claim fails too: the
claim moved or went, and this list must follow it."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest
import yaml
from golden.core import errors
from golden.hotfix import plan as hotfix_plan
from golden.hotfix import results as hotfix_results
from golden.infra import template as infra_template
from golden.instance import boot
from golden.twin import build as twin_build
from golden.twin import localstack

from autoscaling import migration, timeouts

REPO = Path(__file__).resolve().parents[2]


def _defaults(formula: str) -> dict:
    return yaml.safe_load((REPO / "salt" / formula / "defaults.yaml").read_text())["defaults"]


def _pillar(relpath: str) -> dict:
    return yaml.safe_load((REPO / "pillar" / relpath).read_text())


def _roll_defaults() -> dict:
    spec = importlib.util.spec_from_file_location(
        "golden_app_roll", REPO / "salt" / "app" / "files" / "golden-app-roll.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {k: p.default for k, p in inspect.signature(module.Roll).parameters.items()}


def _compose_restart_policies() -> set[str]:
    text = (REPO / "salt" / "app" / "files" / "compose.yaml.j2").read_text()
    return set(re.findall(r"^\s+restart: (\S+)", text, re.M))


def _makefile_emulator_port() -> str:
    text = (REPO / "Makefile").read_text()
    return re.search(r"-m autoscaling\.emulator --port (\d+)", text).group(1)


def _makefile_default(name: str) -> str:
    return re.search(rf"^{name} \?= (\S+)", (REPO / "Makefile").read_text(), re.M).group(1)


def _chroma_unit_restart() -> str:
    text = (REPO / "salt" / "chroma" / "files" / "chroma.service.j2").read_text()
    return re.search(r"^Restart=(\S+)", text, re.M).group(1)


APP, NGINX, CHROMA = _defaults("app"), _defaults("nginx"), _defaults("chroma")
FOUNDATION = infra_template.load().parameters
CHAIN = timeouts.chain(timeouts.load_inputs())
ROLL = _roll_defaults()
STANDIN_PORTS = {s.name: s.host_port for s in localstack.STANDINS}
(RESTART,) = _compose_restart_policies()

# (page, pattern with one group, the value from its source)
CLAIMS = [
    # restart policies
    ("docs/hotfix.md", r"`restart: (\S+?)`", RESTART),
    ("docs/chroma.md", r"\(`Restart=(\w+)`\)", _chroma_unit_restart()),
    # ports
    ("docs/architecture.md", r"stub_status on 127\.0\.0\.1:(\d+)", NGINX["status_port"]),
    ("docs/architecture.md", r"N backend replicas on ports (\d+)\.\.",
     APP["services"]["backend"]["port"]),
    ("docs/architecture.md", r"the frontend on (\d+)\)", APP["services"]["frontend"]["port"]),
    ("docs/chroma.md", r"`127\.0\.0\.1:(\d+)` only", CHROMA["port"]),
    ("docs/chroma.md", r"`0\.0\.0\.0:(\d+)` \(`chroma:proxy_port`\)", CHROMA["proxy_port"]),
    ("docs/chroma.md", r"Chroma's own port on 127\.0\.0\.1 \((\d+)\)", CHROMA["port"]),
    ("docs/chroma.md", r"`proxy_port` \| the proxy \((\d+)\)", CHROMA["proxy_port"]),
    ("docs/chroma.md", r"opens only 22 and (\d+) on this role",
     _pillar("roles/chroma.sls")["hardening"]["extra_tcp_ports"][0]),
    ("docs/local-twin.md", r"RDS \| `golden-local-postgres` \| (\d+)",
     STANDIN_PORTS["golden-local-postgres"]),
    ("docs/local-twin.md", r"ElastiCache \| `golden-local-redis` \| (\d+)",
     STANDIN_PORTS["golden-local-redis"]),
    ("docs/local-twin.md", r"the Chroma host \| `golden-local-chroma` \| (\d+)",
     STANDIN_PORTS["golden-local-chroma"]),
    ("docs/local-twin.md", r"Parameter Store \| `golden-local-aws` \| (\d+)",
     STANDIN_PORTS["golden-local-aws"]),
    ("docs/local-twin.md", r"\(`golden-twin`,\s+(\S+)\)", twin_build.SUBNET),
    ("README.md", r"the AWS emulator on 127\.0\.0\.1:(\d+)", _makefile_emulator_port()),
    ("docs/release.md", r"--port (\d+) --step-seconds", _makefile_emulator_port()),
    ("docs/release.md", r"curl -X POST 127\.0\.0\.1:(\d+)/moto-api", _makefile_emulator_port()),
    ("README.md", r"`make local \[PORT=(\d+)\]`", _makefile_default("PORT")),
    # limits
    ("docs/architecture.md", r"uploads streamed \((\w+)\)", NGINX["client_max_body_size"]),
    ("docs/chroma.md", r"`max_body_size` \| (\w+);", CHROMA["max_body_size"]),
    ("docs/chroma.md", r"`read_timeout` \| (\w+) \|", CHROMA["read_timeout"]),
    ("docs/performance.md", r"`nginx:api_rate` / `api_burst` \| (\S+), \d+ \|", NGINX["api_rate"]),
    ("docs/performance.md", r"`nginx:api_rate` / `api_burst` \| \S+, (\d+) \|", NGINX["api_burst"]),
    ("docs/performance.md", r"`nginx:upstream_keepalive` \| \d+ \| (\d+) \|",
     NGINX["upstream_keepalive"]),
    ("docs/performance.md", r"`worker_connections` (\d+)", NGINX["worker_connections"]),
    ("docs/performance.md", r"capped by `app:worker_cap`, (\d+)\)", APP["worker_cap"]),
    ("docs/performance.md", r"in front of (\d+) backend\s+replicas",
     _pillar("roles/app.sls")["app"]["backend_replicas"]),
    ("docs/hotfix.md", r"One Run Command names at most (\d+) instances",
     hotfix_plan.MAX_INSTANCE_IDS),
    ("docs/hotfix.md", r"at most (\d+) states per list", hotfix_results.MAX_ITEMS),
    ("docs/hotfix.md", r"comments cut at (\d+) characters", hotfix_results.MAX_COMMENT),
    # a release's migration
    ("docs/release.md", r"golden waits \(at most (\d+) s\)", migration.BOOT_TIMEOUT_SECONDS),
    ("docs/release.md", r"the last (\d+) lines of its output", migration.TAIL_LINES),
    ("docs/release.md", r"timeout_seconds: (\d+)", migration.DEFAULT_TIMEOUT_SECONDS),
    ("docs/app-contract.md", r"their last (\d+) lines", migration.TAIL_LINES),
    ("docs/app-contract.md", r"\(`--migrate-timeout`, (\d+) s by default\)",
     migration.DEFAULT_TIMEOUT_SECONDS),
    # timeouts: the chain and the roll's waits
    ("docs/architecture.md", r"`api_read` (\d+)", APP["timeouts"]["api_read"]),
    ("docs/architecture.md", r"`upload_read` (\d+)", APP["timeouts"]["upload_read"]),
    ("docs/architecture.md", r"`chat_read` (\d+)", APP["timeouts"]["chat_read"]),
    ("docs/architecture.md", r"`upstream_idle` (\d+)", APP["timeouts"]["upstream_idle"]),
    ("docs/architecture.md", r"`margin` (\d+)\)", APP["timeouts"]["margin"]),
    ("docs/architecture.md", r"/api/chat/ 300 between two tokens\)\s+= (\d+)",
     CHAIN["request_max"]),
    ("docs/architecture.md", r"load balancer idle timeout\s+R \+ margin\s+(\d+)", CHAIN["lb_idle"]),
    ("docs/architecture.md", r"target group deregistration\s+R \+ margin\s+(\d+)",
     CHAIN["deregistration_delay"]),
    ("docs/architecture.md", r"gunicorn graceful_timeout\s+R \+ margin\s+(\d+)",
     CHAIN["gunicorn_graceful"]),
    ("docs/architecture.md", r"Docker stop_grace_period\s+graceful \+ margin\s+(\d+)",
     CHAIN["stop_grace"]),
    ("docs/architecture.md", r"systemd TimeoutStopSec\s+stop grace \+ margin\s+(\d+)",
     CHAIN["systemd_stop"]),
    ("docs/architecture.md", r"load balancer idle timeout \((\d+)\)  <", CHAIN["lb_idle"]),
    ("docs/architecture.md", r"nginx keepalive_timeout \((\d+)\)", CHAIN["nginx_keepalive"]),
    ("docs/architecture.md", r"nginx upstream keepalive_timeout \((\d+)\)", CHAIN["upstream_idle"]),
    ("docs/architecture.md", r"gunicorn keepalive \((\d+)\)", CHAIN["gunicorn_keepalive"]),
    ("docs/release.md", r"\((\d+) s each with the shipped values", CHAIN["lb_idle"]),
    ("docs/release.md", r"nginx's (\d+) s read timeout", CHAIN["request_max"]),
    ("docs/hotfix.md", r"the timeout chain\]\(architecture\.md#the-timeout-chain\) \((\d+) s",
     CHAIN["stop_grace"]),
    ("docs/hotfix.md", r"(\d+) s healthy, \d+ s routed", ROLL["timeout"]),
    ("docs/hotfix.md", r"\d+ s healthy, (\d+) s routed", ROLL["route_timeout"]),
    # the foundation stack (docs/foundation.md) against the template and the state tree
    ("docs/foundation.md", r"architecture\.md#the-timeout-chain\) \((\d+) s each",
     CHAIN["lb_idle"]),
    ("docs/foundation.md", r"\(pillar `chroma:proxy_port`, (\d+)\)", CHROMA["proxy_port"]),
    ("docs/foundation.md", r"\*\*RDS PostgreSQL (\d+)\*\*", localstack.POSTGRES_MAJOR),
    ("docs/foundation.md", r"`DbBackupRetentionDays` \((\d+)\)",
     FOUNDATION["DbBackupRetentionDays"]["Default"]),
    ("docs/foundation.md", r"`UploadsGlacierAfterDays` \((\d+)\)",
     FOUNDATION["UploadsGlacierAfterDays"]["Default"]),
    ("docs/foundation.md", r"`LogRetentionDays` \((\d+)\)",
     _defaults("cloudwatch")["log_retention_days"]),
    ("docs/foundation.md", r"`SecurityLogRetentionDays` \((\d+)\)",
     _defaults("cloudwatch")["security_log_retention_days"]),
    ("docs/foundation.md", r"`AppP95LatencySeconds`, (\d+) s,",
     FOUNDATION["AppP95LatencySeconds"]["Default"]),
    # paths
    ("docs/boot.md", r"settings document\*\* at\s+`([^`]+)`", str(boot.INSTANCE_JSON)),
    ("docs/boot.md", r"3\. write `([^`]+)` atomically", str(boot.APP_ENV)),
    ("docs/boot.md", r"write `[^`]+` atomically, mode (\d+)", "0600"),
    ("docs/chroma.md", r"writes\s+`([^`]+)` as root with mode 0600", str(boot.CHROMA_TOKEN)),
    ("docs/chroma.md", r"the volume's mount point \(`([^`]+)`\)", CHROMA["data_dir"]),
    ("docs/architecture.md", r"compose project in `([^`]+)`", APP["dir"]),
]
# Exit codes: the table in the runbook against the error types.
EXIT_CODES = [
    (errors.ConfigError.exit_code, "bad input"),
    (errors.PreflightError.exit_code, "refused by pre-flight"),
    (errors.OperationFailed.exit_code, "ran and failed"),
]


def _ids():
    return [f"{page}:{pattern[:40]}" for page, pattern, _ in CLAIMS]


@pytest.mark.parametrize(("page", "pattern", "expected"), CLAIMS, ids=_ids())
def test_a_documented_value_matches_its_source(page, pattern, expected):
    text = (REPO / page).read_text()
    found = [m.group(1) if m.groups() else m.group(0) for m in re.finditer(pattern, text)]
    assert found, f"{page} no longer says {pattern!r}: update the page or this claim"
    assert set(found) == {str(expected)}, f"{page}: documented {found}, source says {expected}"


@pytest.mark.parametrize(("code", "meaning"), EXIT_CODES)
def test_the_runbooks_exit_codes_are_the_error_types(code, meaning):
    text = (REPO / "docs" / "operations.md").read_text()
    assert re.search(rf"^\| {code} \| {re.escape(meaning)} \|", text, re.M), (code, meaning)


def test_the_compose_file_has_one_restart_policy():
    assert len(_compose_restart_policies()) == 1
