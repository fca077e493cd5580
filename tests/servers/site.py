"""A local web site for tests: pages with any status, headers, encoding and misbehaviour, changeable live.

One server for every test that needs a site: plain HTTP on 127.0.0.1, another loopback address (a 'private'
server), HTTPS with a self-signed certificate, a proxy, or a catch-all (soft-404) site with a `fallback` page.
"""

from __future__ import annotations

import gzip
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Page:
    """One answer: status, headers and body, optionally compressed, chunked, slow or broken."""

    body: bytes | str = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    encoding: str | None = None  # "gzip" or "br": compress the body and say so
    chunked: bool = False
    hang: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection without an answer
    charset_body: str = "utf-8"

    def payload(self) -> bytes:
        raw = self.body.encode(self.charset_body) if isinstance(self.body, str) else self.body
        if self.encoding == "gzip":
            return gzip.compress(raw, mtime=0)
        if self.encoding == "br":
            import brotli

            return brotli.compress(raw)
        return raw


Handler = Callable[[BaseHTTPRequestHandler], Page]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A two-day certificate for localhost and 127.0.0.1 made by openssl; (certificate, key) files in folder."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class Site:
    """A threaded HTTP server on loopback with a route table tests may change at any time.

    `host` picks the loopback address; `tls` (certificate, key) serves HTTPS; `fallback` (a page or handler)
    answers paths that have no route, as a soft-404 site does (None: a plain 404).
    """

    def __init__(self, host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None) -> None:
        self.host = host
        self.scheme = "https" if tls else "http"
        self.routes: dict[str, Page | Handler] = {}
        self.fallback: Page | Handler | None = None
        self.foreign: dict[str, Page] = {}
        self.tunnels: list[str] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                return

            def do_GET(self) -> None:  # noqa: N802 - stdlib's name
                site._serve(self, head=False)

            def do_HEAD(self) -> None:  # noqa: N802 - stdlib's name
                site._serve(self, head=True)

            def do_CONNECT(self) -> None:  # noqa: N802 - stdlib's name
                site._refuse_tunnel(self)

        self.server = ThreadingHTTPServer((host, 0), _Handler)
        self.server.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def start(self) -> Site:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set(self, path: str, page: Page | Handler) -> None:
        """Serve this at path (exact path, query included if given) from now on."""
        with self._lock:
            self.routes[path] = page

    def hits(self, path: str) -> int:
        """How many requests reached path (asked directly or through the proxy)."""
        with self._lock:
            return sum(1 for _, p, _ in self.requests if p in {path, self.url(path)})

    def _route(self, target: str) -> Page | Handler | None:
        """Routes by path, else the fallback; as a proxy (absolute URL), our own host by path, others from `foreign`."""
        parts = urlsplit(target)
        if parts.scheme:
            if parts.netloc != f"{self.host}:{self.port}":
                with self._lock:
                    return self.foreign.get(target) or Page("proxy: no such foreign URL in this test", status=502,
                                                            content_type="text/plain")
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        with self._lock:
            if target in self.routes:
                return self.routes[target]
            route = self.routes.get(urlsplit(target).path)
            return route if route is not None else self.fallback

    def _refuse_tunnel(self, handler: BaseHTTPRequestHandler) -> None:
        """As a proxy, refuse HTTPS tunnels: tests never reach beyond this machine."""
        with self._lock:
            self.tunnels.append(handler.path)
        handler.send_response(403)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _serve(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        with self._lock:
            self.requests.append((handler.command, handler.path, dict(handler.headers.items())))
        route = self._route(handler.path)
        if route is None:
            page = Page("<html><head><title>Not Found</title></head><body>nothing here</body></html>", status=404)
        elif isinstance(route, Page):
            page = route
        else:
            page = route(handler)
        send_page(handler, page, head)


def send_page(handler: BaseHTTPRequestHandler, page: Page, head: bool) -> None:
    """Write one answer on a request handler's connection, misbehaving as the page asks."""
    if page.hang:
        time.sleep(page.hang)
    if page.drop:
        handler.close_connection = True
        try:
            handler.wfile.flush()
            handler.connection.shutdown(2)
        except OSError:  # the client hung up first (a handler that streamed until it did)
            pass
        return
    payload = page.payload()
    handler.send_response(page.status)
    if page.content_type:
        handler.send_header("Content-Type", page.content_type)
    if page.encoding:
        handler.send_header("Content-Encoding", page.encoding)
    for name, value in page.headers:
        handler.send_header(name, value)
    if page.chunked:
        handler.send_header("Transfer-Encoding", "chunked")
    else:
        handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if head:
        return
    if page.chunked:
        for start in range(0, len(payload), 7):
            piece = payload[start:start + 7]
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")
    else:
        handler.wfile.write(payload)
