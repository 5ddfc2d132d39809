"""Suite-wide guards.

Every test may talk only to loopback: a client built without the emulator's endpoint
must fail loudly here instead of reaching real AWS (or anything else)."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NonLoopbackConnection(RuntimeError):
    pass


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address) -> None:
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        if not _is_loopback(address[0]):
            raise NonLoopbackConnection(f"test tried to connect to {address!r}: loopback only")


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    # Resolving a public name is already a step towards leaving the machine.
    if isinstance(host, bytes):
        host = host.decode()
    if host is not None and not _is_loopback(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise NonLoopbackConnection(f"test tried to resolve {host!r}: loopback only") from None
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def loopback_only():
    """Refuse every non-loopback socket for the whole session (subprocesses excepted:
    those get dummy AWS credentials and explicit endpoints from their fixtures)."""
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    os.environ["CHECKPOINT_DISABLE"] = "1"
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex
    socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture
def aws_env(monkeypatch):
    """Dummy credentials and no endpoint from the environment: every client must name the
    emulator itself (settings file or endpoint_url), nothing may point elsewhere."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("GOLDEN_AWS_MAX_ATTEMPTS", "1")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> str:
    """A real self-signed certificate in PEM (openssl), standing in for the RDS bundle."""
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=golden test CA", "-keyout", str(folder / "ca.key"),
         "-out", str(folder / "ca.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return (folder / "ca.pem").read_text()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    """The AWS emulator (autoscaling/emulator, moto extended) in its own process on
    127.0.0.1, one per session; tests reset it (emulator.reset()) to start from nothing.
    A refresh moves one step per poll (step_seconds=0, time_scale=0)."""
    from autoscaling.emulator import Emulator

    log = open(tmp_path_factory.mktemp("emulator") / "emulator.log", "w")  # noqa: SIM115
    emu = Emulator.subprocess(step_seconds=0, time_scale=0, log_file=log)
    try:
        yield emu
    finally:
        emu.stop()
        log.close()


@pytest.fixture(scope="session")
def local_standins():
    """The local stand-ins for RDS, ElastiCache, Chroma and S3/SSM (containers on the twin
    network, published on 127.0.0.1), seeded; returns the app twin's NoCloud seed folder.
    They stay up after the session, like `make local` leaves them (make local-down)."""
    from golden.twin import localstack

    return localstack.start_standins(build_twin=True)


@pytest.fixture(scope="session")
def twin_inputs():
    """What every image build uploads, built once per session (each builder skips when its
    inputs are unchanged): the base image, the wheelhouse, the sample app images."""
    from golden.twin import appimages, baseimage, wheelhouse
    from golden.twin import build as twin

    base = baseimage.build(baseimage.BaseImageSpec())["image"]
    wheelhouse.build(str(twin.REPO / "build" / "wheelhouse"))
    appimages.build(base=base, out=str(twin.REPO / "build" / "images"),
                    wheelhouse=str(twin.REPO / "build" / "wheelhouse-sample"))
    return base
