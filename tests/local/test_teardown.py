"""`make local-down` leaves no process, container or listening port behind; data stays."""

import socket

from golden.twin import localstack

from .conftest import docker


def test_local_down_leaves_nothing_running(local_standins):
    result = localstack.down()
    names = docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert not [n for n in names if n.startswith("golden-local-")]
    for standin in localstack.STANDINS:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            assert sock.connect_ex(("127.0.0.1", standin.host_port)) != 0
    assert (localstack.STATE / "postgres").is_dir() and "kept" in result["data"]
