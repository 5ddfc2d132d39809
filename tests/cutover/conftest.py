"""Real services on loopback for `golden cutover`, run on this machine (no Docker), one of
each per session, removed at the end:

- PostgreSQL 15 (Debian's binaries, a throwaway cluster as in tests/sample_app_tests),
  UTF8, password authentication (scram-sha-256) and TLS with a CA made here, reached as
  ``localhost`` with sslmode verify-full: like the local stand-in (golden local up) and
  RDS. Differences from the stand-in: a random port, fsync off, the superuser as the
  app's user (the stand-in's ``agent_app`` owns only its database).
- Chroma 1.5 (``chroma run`` from this virtualenv's chromadb) on a random port, without
  golden's authenticating proxy in front (the stand-in has none either); the proxy's
  bearer token is tested with a loopback stand-in of that proxy in test_cutover.py.
- The AWS emulator (tests/conftest.py's ``emulator``) for S3 and SSM Parameter Store.
  It does not model S3's additional checksums, throttling or eventual consistency.

The source (tests/cutover/source.py) is generated once per session.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cutover import source

# ASCII like every RDS password; quotes, % and $ check that nothing splices it into text.
PASSWORD = "cutover-test-pass'word%$1"
SSM_PATH = "/golden/cutovertest/"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_bin() -> Path | None:
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / "initdb").exists() and (root / "pg_ctl").exists():
            return root
    return None


def _tls(folder: Path) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=golden cutover test CA", "-keyout", str(folder / "ca.key"),
            "-out", str(folder / "ca.pem"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", str(folder / "server.key"), "-out", str(folder / "server.csr"))
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", str(folder / "server.csr"), "-CA", str(folder / "ca.pem"),
            "-CAkey", str(folder / "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", str(folder / "san.ext"), "-out", str(folder / "server.crt"))


class Postgres:
    def __init__(self, port: int, ca: Path):
        self.port = port
        self.ca = ca

    def admin(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(host="localhost", port=self.port, user="golden",
                               password=PASSWORD, dbname=dbname, sslmode="verify-full",
                               sslrootcert=str(self.ca), autocommit=True)

    def fresh_database(self, name: str) -> str:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
        return name


@pytest.fixture(scope="session")
def postgres():
    bindir = _postgres_bin()
    if bindir is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs Debian's postgresql package and root (to run it as postgres)")
    pg = pwd.getpwnam("postgres")
    root = Path(tempfile.mkdtemp(prefix="golden-cutover-pg-"))
    os.chown(root, pg.pw_uid, pg.pw_gid)
    _tls(root)
    (root / "pw").write_text(PASSWORD)
    for name in ("server.key", "server.crt", "pw"):
        os.chown(root / name, pg.pw_uid, pg.pw_gid)
    (root / "server.key").chmod(0o600)
    data, port = root / "data", free_port()

    def as_postgres(*argv: str, check: bool = True) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=check,
                       capture_output=True, timeout=120)

    try:
        as_postgres(str(bindir / "initdb"), "-D", str(data), "-U", "golden", "-E", "UTF8",
                    "--locale=C.UTF-8", "--auth=scram-sha-256", f"--pwfile={root / 'pw'}",
                    "--no-sync")
        as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l",
                    str(root / "log"), "-o",
                    f"-c listen_addresses=127.0.0.1 -c port={port} "
                    f"-c unix_socket_directories={root} -c fsync=off -c ssl=on "
                    f"-c ssl_cert_file={root / 'server.crt'} "
                    f"-c ssl_key_file={root / 'server.key'}", "start")
        yield Postgres(port, root / "ca.pem")
    finally:
        as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop",
                    check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def chroma_server():
    """(port, data folder) of a Chroma server on 127.0.0.1."""
    program = Path(sys.executable).parent / "chroma"
    if not program.exists():
        pytest.skip("needs chromadb in this virtualenv (make setup)")
    folder = Path(tempfile.mkdtemp(prefix="golden-cutover-chroma-"))
    port = free_port()
    log = open(folder / "log", "w")  # noqa: SIM115
    proc = subprocess.Popen([str(program), "run", "--host", "127.0.0.1", "--port", str(port),
                             "--path", str(folder / "data")], stdout=log, stderr=log,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat",
                                            timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chroma did not start: " + (folder / "log").read_text()
                                       [-2000:]) from None
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def source_dir(tmp_path_factory):
    """The single server's data folder (about 110 MB), made once."""
    root = tmp_path_factory.mktemp("single-server")
    made = source.make_all(root)
    return root, made


ENV_TEMPLATE = """\
schema: 1
environment: cutovertest
region: {region}
aws:
  endpoint_url: {aws}
artifacts_bucket: golden-cutovertest-artifacts
instance:
  database: {{host: localhost, port: {pg_port}, name: {db}, user: golden, sslmode: verify-full}}
  redis: {{host: 127.0.0.1, port: 6379, db: 0}}
  chroma: {{host: 127.0.0.1, port: {chroma_port}}}
  s3: {{bucket: {bucket}, region: {region}}}
  ssm_path: {ssm}
  log_group_prefix: /golden/cutovertest
tags: {{golden:owner: platform}}
roles:
  app:
    auto_scaling_group: cutovertest-app
    launch_template: cutovertest-app
    instance_type: t3.micro
    subnets: [a]
    security_groups: [sg]
    target_groups: [tg]
    instance_profile: p
    capacity: {{min: 1, max: 2, desired: 1}}
    health_check: {{type: ELB, grace_period: 60}}
    instance_warmup: 30
    refresh: {{min_healthy_percentage: 50, max_healthy_percentage: 100, timeout_minutes: 10}}
    alarms: []
    scaling_policy: null
"""


def write_env(folder: Path, *, aws: str, pg_port: int, db: str, chroma_port: int,
              bucket: str) -> Path:
    """An environment settings file (golden's schema) naming these loopback services."""
    path = folder / "cutovertest.yaml"
    path.write_text(ENV_TEMPLATE.format(region=REGION, aws=aws, pg_port=pg_port, db=db,
                                        chroma_port=chroma_port, bucket=bucket, ssm=SSM_PATH))
    return path


def seed_aws(endpoint: str, bucket: str | None, *, chroma_token: str | None = None) -> None:
    from golden.core import awsclient

    if bucket:
        awsclient.client("s3", region=REGION, endpoint=endpoint).create_bucket(Bucket=bucket)
    ssm = awsclient.client("ssm", region=REGION, endpoint=endpoint)
    ssm.put_parameter(Name=f"{SSM_PATH}db_password", Value=PASSWORD, Type="SecureString",
                      Overwrite=True)
    if chroma_token:
        ssm.put_parameter(Name=f"{SSM_PATH}chroma_token", Value=chroma_token,
                          Type="SecureString", Overwrite=True)
