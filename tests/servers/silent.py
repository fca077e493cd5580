"""A server that takes connections and never answers: a remote that hangs (an archive on a blackholed route)."""

from __future__ import annotations

import socket


class Silent:
    """Listens on a loopback port; connections land in its backlog and wait forever for an answer."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    """A loopback port nobody listens on now (a closed port, for services that are down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
