"""An egress proxy for tests: a plain HTTP forward proxy on loopback that answers some paths itself, as a
country's filter does (HTTP 451, or a "not available in your country" page), and passes the rest to the origin.

Two of them in front of one local site are two regions that see that site differently.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.servers.site import Page

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "transfer-encoding", "te",
               "trailer", "upgrade"}


class RegionProxy:
    """Forwards absolute-form GET and HEAD requests; `refuse` maps a path to the answer given instead."""

    def __init__(self, refuse: dict[str, Page] | None = None) -> None:
        self.refuse = dict(refuse or {})
        self.seen: list[str] = []  # the URLs asked through it
        self._lock = threading.Lock()
        proxy = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                return

            def do_GET(self) -> None:  # noqa: N802 - stdlib's name
                proxy._handle(self)

            def do_HEAD(self) -> None:  # noqa: N802 - stdlib's name
                proxy._handle(self)

            def do_CONNECT(self) -> None:  # noqa: N802 - stdlib's name
                self.send_error(405, "no tunnels in tests")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's address, for --proxy."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RegionProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def asked(self, path: str) -> int:
        """How many requests for path came through."""
        with self._lock:
            return sum(1 for url in self.seen if urlsplit(url).path == path)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        target = urlsplit(handler.path)
        if not target.hostname:
            handler.send_error(400, "a proxy is asked in absolute form")
            return
        with self._lock:
            self.seen.append(handler.path)
        refusal = self.refuse.get(target.path)
        if refusal is not None:
            self._answer(handler, refusal.status,
                         [("Content-Type", refusal.content_type or "text/plain"), *refusal.headers], refusal.payload())
            return
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=10)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(handler.command, target.path + (f"?{target.query}" if target.query else "") or "/",
                             headers=headers)
            response = upstream.getresponse()
            body = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP | {"content-length"}]
            self._answer(handler, response.status, kept, body)
        except OSError as exc:
            self._answer(handler, 502, [("Content-Type", "text/plain")], f"proxy: {exc}".encode())
        finally:
            upstream.close()

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)


class KeepAliveProxy:
    """An upstream proxy that keeps every connection open, whatever ``Connection: close`` says, and answers
    each absolute-form request itself (200, the URL asked as the body): `seen` is what reached it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                return

            def do_GET(self) -> None:  # noqa: N802 - stdlib's name
                proxy.seen.append(self.path)
                body = self.path.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "keep-alive")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = False  # what a pooling proxy does, whatever the client asked

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> KeepAliveProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
