"""The load balancer's part of the timeout chain (docs/architecture.md, The timeout chain).

The chain's inputs are pillar values of the app formula (`app:timeouts`: nginx's read
timeouts, its keep-alive to the replicas, a margin; defaults in salt/app/defaults.yaml,
the role's pillar in pillar/roles/app.sls may change them). salt/app/map.jinja derives the
instance's side from them (nginx, gunicorn, Docker, systemd); this module derives, the
same way, the two values that live in AWS instead: the load balancer's idle timeout and
the target group's deregistration delay, which `golden env plan/apply` set and check.

Pure functions over plain data, plus `load_inputs` which reads the two YAML files."""

from __future__ import annotations

from pathlib import Path

import yaml
from golden.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = REPO / "salt" / "app" / "defaults.yaml"
ROLE_PILLAR = REPO / "pillar" / "roles" / "app.sls"
INPUT_KEYS = ("api_read", "upload_read", "chat_read", "upstream_idle", "margin")
# AWS limits: idle_timeout.timeout_seconds 1-4000, deregistration_delay.timeout_seconds 0-3600.
MAX_IDLE = 4000
MAX_DEREGISTRATION = 3600


def chain(inputs: dict) -> dict:
    """Every derived link, in seconds, from the pillar inputs (``INPUT_KEYS``), exactly as
    salt/app/map.jinja derives them. Outer links that wait for requests wait ``margin``
    longer than the link inside them; keep-alive goes the other way (the server keeps an
    idle connection longer than the client, so the client closes first)."""
    margin = inputs["margin"]
    request_max = max(inputs["api_read"], inputs["upload_read"], inputs["chat_read"])
    lb_idle = request_max + margin
    return {
        "request_max": request_max,
        "lb_idle": lb_idle,
        "deregistration_delay": request_max + margin,
        "nginx_keepalive": lb_idle + margin,
        "upstream_idle": inputs["upstream_idle"],
        "gunicorn_keepalive": inputs["upstream_idle"] + margin,
        "gunicorn_graceful": request_max + margin,
        "stop_grace": request_max + 2 * margin,
        "systemd_stop": request_max + 3 * margin,
    }


def merge_inputs(defaults: dict, pillar: dict | None) -> dict:
    """The defaults' ``timeouts`` with the pillar's ``app:timeouts`` over them (None and
    missing keys keep the default). Raises ConfigError naming a key that is not a whole
    number of seconds above 0."""
    merged = dict(defaults)
    for key, value in ((pillar or {}).items()):
        if value is not None:
            merged[key] = value
    for key in INPUT_KEYS:
        value = merged.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"app:timeouts:{key}: expected whole seconds (1 or more), "
                              f"got {value!r}")  # fmt: skip
    return {key: merged[key] for key in INPUT_KEYS}


def load_inputs(defaults_path: Path = DEFAULTS, pillar_path: Path = ROLE_PILLAR) -> dict | None:
    """The chain's inputs from the checkout's state tree, or None when it is not there
    (golden installed without its repository): then nothing can be derived or checked."""
    if not defaults_path.is_file():
        return None
    try:
        defaults = yaml.safe_load(defaults_path.read_text())["defaults"]["timeouts"]
        pillar = {}
        if pillar_path.is_file():
            pillar = ((yaml.safe_load(pillar_path.read_text()) or {}).get("app") or {}).get(
                "timeouts"
            ) or {}
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"{defaults_path} / {pillar_path}: the timeout chain cannot be "
                          f"read: {exc}") from None  # fmt: skip
    return merge_inputs(defaults, pillar)


def load_balancer_targets(links: dict, settings: dict | None, source: str) -> dict[str, int]:
    """The load balancer attributes a role's settings ask for: ``load_balancer`` in the
    role's settings (``idle_timeout``, ``deregistration_delay``, seconds), each
    defaulting to the chain's value. A value that breaks the chain raises ConfigError
    naming ``source``'s key and the bounds: the idle timeout must outlast nginx's longest
    read (``request_max``) and stay below nginx's keep-alive (``nginx_keepalive``); the
    deregistration delay must outlast the longest request."""
    settings = settings or {}
    idle = settings.get("idle_timeout") or links["lb_idle"]
    delay = settings.get("deregistration_delay") or links["deregistration_delay"]
    low, high = links["request_max"], links["nginx_keepalive"]
    if not low < idle < min(high, MAX_IDLE + 1):
        raise ConfigError(
            f"{source}.load_balancer.idle_timeout: expected more than {low} (nginx's longest "
            f"read timeout) and less than {high} (nginx's keep-alive), got {idle}"
        )
    if not low < delay <= MAX_DEREGISTRATION:
        raise ConfigError(
            f"{source}.load_balancer.deregistration_delay: expected more than {low} (the "
            f"longest request) and at most {MAX_DEREGISTRATION}, got {delay}"
        )
    return {"idle_timeout": idle, "deregistration_delay": delay}
