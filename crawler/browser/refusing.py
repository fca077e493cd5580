"""A proxy that connects nowhere: where Chromium's traffic goes while it renders from the archive.

A screenshot is answered from the archive by the page's route; anything Chromium sends past that route
(speculative loads, WebRTC's TURN, its own background traffic) reaches this proxy and is refused with a 403,
so nothing is ever fetched live. Each refusal is logged.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading

logger = logging.getLogger(__name__)

_ANSWER = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 38\r\nConnection: close\r\n\r\n"
           b"rendering from the archive: no fetches")


class _Refuse(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        try:
            first = sock.recv(4096).split(b"\r\n", 1)[0]
            logger.info("refused while rendering from the archive: %s", first[:300].decode("latin-1"))
            sock.sendall(_ANSWER)
        except OSError:
            return


class RefusingProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 that answers every request and CONNECT with 403."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Refuse)
        self._thread = threading.Thread(target=self.serve_forever, name="lastseen-refusing-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> RefusingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
