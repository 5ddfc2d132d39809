"""`python -m sample_frontend`: serve the static export on port 3000 (FRONTEND_PORT).

Its own worker variable (FRONTEND_WORKERS, default 1) rather than uvicorn's default of
WEB_CONCURRENCY, which the env file sets for the backend: a static server needs one."""

from __future__ import annotations

import os
import sys

import uvicorn


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        sys.exit(f"{name} must be an integer, got {raw!r}")
    if value < 1:
        sys.exit(f"{name} must be at least 1, got {value}")
    return value


def main() -> None:
    uvicorn.run(
        "sample_frontend.server:app",
        host=os.environ.get("FRONTEND_HOST", "0.0.0.0"),
        port=_int_env("FRONTEND_PORT", 3000),
        workers=_int_env("FRONTEND_WORKERS", 1),
        # nginx keeps idle upstream connections for 60 s; outlive them so it closes first.
        timeout_keep_alive=75,
        backlog=2048,
        # nginx writes the access log for every request that reaches this server.
        access_log=False,
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
        server_header=False,
    )


if __name__ == "__main__":
    main()
