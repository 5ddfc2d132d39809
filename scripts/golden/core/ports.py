"""Whether a loopback port can be listened on, as the servers golden starts (HAProxy, the
emulator, the bench's containers) would listen on it."""

from __future__ import annotations

import socket


def loopback_port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:PORT. Connections of an earlier run still in
    TIME_WAIT do not count: SO_REUSEADDR, which every server golden starts sets too, lets a
    listener bind over them (a check without it refuses a re-run for about a minute)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
