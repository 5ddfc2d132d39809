"""gunicorn settings for the sample backend (read by `gunicorn -c gunicorn.conf.py`).

The worker count is decided outside the image, at boot, from the CPU count (the app Salt
formula writes WEB_CONCURRENCY into the env file), so one image fits every instance size."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sample_backend.logs import logging_config  # noqa: E402
from sample_backend.workers import WORKER_CLASSES  # noqa: E402


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, got {value}")
    return value


def _bool_env(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be one of 1/0, true/false, yes/no, on/off, got {raw!r}")


def _loop_env(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip().lower() or default
    if raw not in WORKER_CLASSES:
        raise SystemExit(f"{name} must be one of {', '.join(WORKER_CLASSES)}, got {raw!r}")
    return raw


wsgi_app = "sample_backend.asgi:app"
bind = [os.environ.get("BIND", "0.0.0.0:8000")]
workers = _int_env("WEB_CONCURRENCY", 2)
# The workers' event loop: asyncio unless UVICORN_LOOP=uvloop. uvloop serves new requests
# before it resumes awaited ones when the CPU is busy, which left about 1 % of requests
# seconds late at saturation with no gain in throughput (sample_backend/workers.py).
worker_class = WORKER_CLASSES[_loop_env("UVICORN_LOOP", "asyncio")]

# Matches net.core.somaxconn in the base formula; bursts queue in the kernel, not at nginx.
backlog = _int_env("GUNICORN_BACKLOG", 2048)

# The app is imported once, in the master, and the workers are forked from it: they share
# the imported code's memory pages (`golden bench load`: PSS of 2 replicas x 5 workers
# 375 -> 188 MiB; same CPU per request, same time to healthy) and a broken import stops
# the replica before any worker starts. Safe because the app makes its clients in the
# lifespan, inside each worker, never at import. GUNICORN_PRELOAD=0 turns it off for an app
# that opens connections or starts threads at import time.
preload_app = _bool_env("GUNICORN_PRELOAD", True)

# A worker that stops heartbeating this long is killed and replaced. Requests themselves
# are not limited by it (uvicorn workers heartbeat from the event loop), so the slowest
# legitimate request, a 100 MB upload to S3, is unaffected.
timeout = _int_env("GUNICORN_TIMEOUT", 60)
# Both set by the compose file from the timeout chain (docs/architecture.md): after SIGTERM
# the workers get longer than the longest request to finish what they serve, and an idle
# connection is kept longer than nginx keeps it (the proxy always closes first, so it never
# sends a request on a socket we are closing). The defaults are the chain's shipped values.
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 305)
keepalive = _int_env("GUNICORN_KEEPALIVE", 35)

# The heartbeat file on tmpfs: on overlayfs its fchmod can block under disk load.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Logs: JSON lines. The app writes the access log to stdout (sample_backend/logs.py) so
# every line has the request's latency; gunicorn's own and uvicorn's plain-text access
# lines are switched off there. Errors go to stderr.
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
accesslog = None
errorlog = "-"
logconfig_dict = logging_config(loglevel)

proc_name = "sample-backend"
# No runtime control socket: nothing manages workers at run time but the container itself.
control_socket_disable = True
