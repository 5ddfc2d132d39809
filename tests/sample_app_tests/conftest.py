"""Fixtures for the sample app's tests: the app on the host (in-process), real local
services where this machine has them, and loopback sockets that refuse or never answer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SAMPLE_APP = Path(__file__).resolve().parent.parent / "sample_app"
for _part in ("backend", "frontend"):
    if str(SAMPLE_APP / _part) not in sys.path:
        sys.path.insert(0, str(SAMPLE_APP / _part))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    return free_port()


@pytest.fixture
def blackhole_port():
    """A loopback port that completes the TCP handshake (the kernel's backlog) but never
    answers: what a hung dependency looks like to a client."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield server.getsockname()[1]
    server.close()


def _postgres_bin() -> Path | None:
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / "initdb").exists() and (root / "pg_ctl").exists():
            return root
    return None


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on 127.0.0.1 (Debian's postgresql package), data in a
    temporary folder, stopped at the end. No TLS: tests of TLS settings use it to show
    the URL's sslmode reaches libpq."""
    bindir = _postgres_bin()
    if bindir is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs Debian's postgresql package and root (to run it as postgres)")
    import pwd

    pg = pwd.getpwnam("postgres")
    root = Path(tempfile.mkdtemp(prefix="golden-sampletest-pg-"))
    os.chown(root, pg.pw_uid, pg.pw_gid)
    data, port = root / "data", free_port()

    def as_postgres(*argv: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=120
        )

    try:
        as_postgres(
            str(bindir / "initdb"), "-D", str(data), "-U", "golden", "--auth=trust", "--no-sync"
        )
        as_postgres(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-t",
            "60",
            "-l",
            str(root / "log"),
            "-o",
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
            " -c fsync=off",
            "start",
        )
        import psycopg

        with psycopg.connect(
            f"postgresql://golden@127.0.0.1:{port}/postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE app")
        yield f"postgresql://golden:not-a-real-password@127.0.0.1:{port}/app"
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def moto_s3():
    """moto in server mode on 127.0.0.1 standing in for S3 (the only emulated part).
    Not modelled: bucket policies, encryption settings, throttling."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield endpoint
    server.stop()


@pytest.fixture
def backend():
    """Builds a TestClient around the sample backend for a given environment."""
    from fastapi.testclient import TestClient
    from sample_backend.main import create_app

    opened = []

    def make(env: dict[str, str] | None = None):
        env = {"REPLICA_NAME": "test-replica", **(env or {})}
        client = TestClient(create_app(env))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
