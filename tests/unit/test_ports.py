"""golden.core.ports: a port held by a listener is taken; one with only TIME_WAIT
connections of an earlier run (the rehearsal re-run right after the last) is free."""

from __future__ import annotations

import socket

from golden.core.ports import loopback_port_free


def _listener() -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def test_a_listening_port_is_taken():
    with _listener() as server:
        assert not loopback_port_free(server.getsockname()[1])


def test_a_port_with_only_time_wait_connections_is_free():
    server = _listener()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    accepted, _ = server.accept()
    accepted.close()  # the side that closes first keeps the port in TIME_WAIT
    client.close()
    server.close()
    assert loopback_port_free(port)
