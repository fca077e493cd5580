"""A guarded forwarding proxy on 127.0.0.1 for clients that connect by themselves (yt-dlp).

yt-dlp follows redirects and fetches media, manifests and fragments with its own HTTP stack. Given this
proxy as its ``proxy`` option, every connection it makes (CONNECT for https, absolute-form requests for http)
goes through `guarded_connect`: the host is resolved once, every address checked by the net guard, and the
connection made to that address. Behind a proxy (LASTSEEN_PROXY, else the environment's HTTPS_PROXY/HTTP_PROXY
with NO_PROXY: archive.net.http.proxy_for decides, as for every other client) it chains to it: the target
host is then checked by resolving it here (the upstream proxy resolves it again: point a proxy at the open
internet only).

One request per client connection: a plain http request is answered with ``Connection: close`` and nothing
more the client sends on that connection is passed on, so a second request (to a host never checked) cannot
ride an upstream connection kept open. A CONNECT tunnel carries one TLS session to the one host checked.

One proxy per (allow-list, proxy setting) runs per process, started on first use in daemon threads.
"""

from __future__ import annotations

import base64
import logging
import selectors
import socket
import socketserver
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from archive.net.guard import BlockedURL, NetGuard, parse_target
from archive.net.http import guarded_connect, proxy_for

logger = logging.getLogger(__name__)

_HEAD_LIMIT = 64 * 1024
_HOP_HEADERS = {"proxy-connection", "proxy-authorization", "connection", "keep-alive"}


class _ProxyError(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason = status, reason


def _read_head(sock: socket.socket, what: str = "request") -> tuple[bytes, bytes]:
    """A request or answer head (up to the blank line) and whatever body bytes came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise _ProxyError(400 if what == "request" else 502, "Bad Request" if what == "request"
                              else "Bad Gateway", f"connection closed before the {what} head ended")
        data += chunk
        if len(data) > _HEAD_LIMIT:
            raise _ProxyError(431 if what == "request" else 502, "Request Header Fields Too Large"
                              if what == "request" else "Bad Gateway", f"{what} head over 64 KiB")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _body_length(lines: list[str]) -> int:
    """The request body's length from Content-Length; a chunked (or otherwise unframed) body is refused."""
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "transfer-encoding":
            raise _ProxyError(411, "Length Required", "a request body must have a Content-Length")
        if name == "content-length":
            if not value.strip().isdigit():
                raise _ProxyError(400, "Bad Request", f"not a Content-Length: {value.strip()[:40]!r}")
            length = int(value)
    return length


def _closing(head: bytes) -> bytes:
    """An answer head that tells the client this connection ends with the answer."""
    lines = [line for line in head.split(b"\r\n")
             if line.split(b":", 1)[0].strip().lower() not in {b"connection", b"keep-alive", b"proxy-connection"}]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


def _authority(text: str) -> tuple[str, int]:
    """host and port of a CONNECT target 'host:443' or '[v6]:443'."""
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or parts.username is not None or "\\" in text or "%" in text:
        raise _ProxyError(400, "Bad Request", f"not a host:port: {text[:200]!r}")
    return parts.hostname, port


def _pipe(client: socket.socket, upstream: socket.socket, idle: float, *, both_ways: bool) -> None:
    """Copy the upstream's bytes to the client (and the client's to it in a tunnel, ``both_ways``) until one
    side closes, nothing moves for ``idle`` seconds, or, outside a tunnel, the client sends anything more."""
    selector = selectors.DefaultSelector()
    selector.register(client, selectors.EVENT_READ, upstream)
    selector.register(upstream, selectors.EVENT_READ, client)
    try:
        while True:
            events = selector.select(idle)
            if not events:
                return
            for key, _ in events:
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data or (key.fileobj is client and not both_ways):
                    return
                key.data.sendall(data)
    except OSError:
        return
    finally:
        selector.close()


def _send_body(client: socket.socket, upstream: socket.socket, rest: bytes, length: int) -> None:
    """Pass exactly ``length`` body bytes on: those read with the head, then the rest from the client."""
    upstream.sendall(rest[:length])
    left = length - len(rest[:length])
    while left > 0:
        chunk = client.recv(min(left, 65536))
        if not chunk:
            raise OSError("the client closed before its request body ended")
        upstream.sendall(chunk)
        left -= len(chunk)


@dataclass
class _Opened:
    """The connection a request asked for: what to send on it first, and how the exchange goes on."""

    sock: socket.socket
    out: bytes | None  # None: a CONNECT tunnel this proxy opened itself
    body: int = 0  # request body bytes to pass on after ``out``
    upstream_tunnel: bool = False  # a CONNECT sent on to an upstream proxy, whose answer decides


class _Handler(socketserver.BaseRequestHandler):
    server: GuardedForwardProxy

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(self.server.timeout_seconds)
        try:
            head, rest = _read_head(client)
            opened = self.server.open(head)
        except _ProxyError as exc:
            self._refuse(client, exc)
            return
        except OSError:
            return
        with opened.sock as upstream:
            try:
                if opened.out is None:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    upstream.sendall(rest)
                    _pipe(client, upstream, self.server.timeout_seconds, both_ways=True)
                    return
                upstream.sendall(opened.out)
                if not opened.upstream_tunnel:
                    _send_body(client, upstream, rest, opened.body)
                upstream.settimeout(self.server.timeout_seconds)
                answer, more = _read_head(upstream, "answer")
            except _ProxyError as exc:
                self._refuse(client, exc)
                return
            except OSError:
                return
            try:
                tunnel = opened.upstream_tunnel and answer[9:12].startswith(b"2") and answer[:7] == b"HTTP/1."
                client.sendall((answer + b"\r\n\r\n" if tunnel else _closing(answer)) + more)
                if tunnel:
                    upstream.sendall(rest)
            except OSError:
                return
            _pipe(client, upstream, self.server.timeout_seconds, both_ways=tunnel)

    @staticmethod
    def _refuse(client: socket.socket, exc: _ProxyError) -> None:
        body = f"{exc}\n".encode()
        if exc.status == 403:
            logger.warning("refused: %s", exc)
        try:
            # X-Lastseen-Refused: a browser recording what it receives (crawler.browser) knows it is no site's answer
            client.sendall(f"HTTP/1.1 {exc.status} {exc.reason}\r\nContent-Type: text/plain\r\n"
                           f"X-Lastseen-Refused: {exc.status}\r\n"
                           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        except OSError:
            pass


class GuardedForwardProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 whose every outbound connection is checked by a NetGuard.

    ``upstream`` is the proxy setting (LASTSEEN_PROXY); empty, the environment's proxy for each target applies.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, guard: NetGuard, upstream: str = "", timeout: float = 60.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.guard = guard
        self.upstream = upstream
        self.timeout_seconds = timeout
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> GuardedForwardProxy:
        self._thread = threading.Thread(target=self.serve_forever, name="lastseen-guarded-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def open(self, head: bytes) -> _Opened:
        """The connection a request head asks for, checked by the guard, and what to send on it."""
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise _ProxyError(400, "Bad Request", f"not a request line: {lines[0][:200]!r}") from None
        if method.upper() == "CONNECT":
            host, port = _authority(target)
            url = f"https://{host}:{port}" if ":" not in host else f"https://[{host}]:{port}"
        else:
            try:
                parsed = parse_target(target)
            except BlockedURL as exc:
                raise _ProxyError(403, "Forbidden", f"refused by the net guard: {exc}") from None
            host, port, url = parsed.host, parsed.port, target
        upstream = proxy_for(url, self.upstream)
        out: bytes | None = None
        body = 0
        if method.upper() != "CONNECT":
            body = _body_length(lines)
            parts = urlsplit(target)
            headers = [line for line in lines[1:] if line.split(":", 1)[0].strip().lower() not in _HOP_HEADERS]
            origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            absolute = upstream and not urlsplit(upstream).scheme.lower().startswith("socks")
            line = f"{method} {target if absolute else origin} {version}"
            out = "\r\n".join([line, *headers, "Connection: close", "", ""]).encode("latin-1")
        try:
            if upstream:
                return self._via_upstream(upstream, host, port, version, out, body)
            return _Opened(guarded_connect(self.guard, host, port, self.timeout_seconds), out, body)
        except BlockedURL as exc:
            raise _ProxyError(403, "Forbidden", f"refused by the net guard: {exc}") from None
        except OSError as exc:
            raise _ProxyError(502, "Bad Gateway", f"cannot connect to {host}:{port}: {exc}") from None

    def _via_upstream(self, upstream: str, host: str, port: int, version: str, out: bytes | None,
                      body: int) -> _Opened:
        """Chain to the upstream proxy after checking the target host here (the upstream resolves it again)."""
        self.guard.check_host(host, port)
        proxy = urlsplit(upstream)
        auth = ""
        if proxy.username is not None:
            token = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
            auth = f"Proxy-Authorization: Basic {base64.b64encode(token).decode()}\r\n"
        scheme = proxy.scheme.lower()
        if scheme.startswith("socks"):
            import socks  # PySocks: what requests uses for SOCKS proxies too

            kind = socks.SOCKS4 if scheme.startswith("socks4") else socks.SOCKS5
            sock = socks.create_connection((host, port), self.timeout_seconds, proxy_type=kind,
                                           proxy_addr=proxy.hostname, proxy_port=proxy.port or 1080,
                                           proxy_username=unquote(proxy.username or "") or None,
                                           proxy_password=unquote(proxy.password or "") or None,
                                           proxy_rdns=scheme in {"socks5h", "socks4a"})
            return _Opened(sock, out, body)
        sock = socket.create_connection((proxy.hostname or "", proxy.port or 8080), self.timeout_seconds)
        if out is None:  # CONNECT through the upstream: its answer decides whether a tunnel follows
            connect = f"CONNECT {host}:{port} {version}\r\nHost: {host}:{port}\r\n{auth}\r\n"
            return _Opened(sock, connect.encode("latin-1"), upstream_tunnel=True)
        line, _, rest = out.partition(b"\r\n")
        return _Opened(sock, line + b"\r\n" + auth.encode("latin-1") + rest, body)


_running: dict[tuple[NetGuard, str], GuardedForwardProxy] = {}
_lock = threading.Lock()


def guarded_proxy_url(allow_networks: Iterable[str] = (), upstream: str = "") -> str:
    """The URL of this process's guarded forwarding proxy for this allow-list and proxy setting (empty: the
    environment's proxy variables), started if needed."""
    guard = NetGuard.from_settings(allow_networks)
    key = (guard, upstream or "")
    with _lock:
        proxy = _running.get(key)
        if proxy is None:
            proxy = _running[key] = GuardedForwardProxy(guard, upstream or "").start()
        return proxy.url
