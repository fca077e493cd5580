"""A guarded forwarding proxy on 127.0.0.1 for clients that connect by themselves (yt-dlp).

yt-dlp follows redirects and fetches media, manifests and fragments with its own HTTP stack. Given this
proxy as its ``proxy`` option, every connection it makes (CONNECT for https, absolute-form requests for http)
goes through `guarded_connect`: the host is resolved once, every address checked by the net guard, and the
connection made to that address. With LASTSEEN_PROXY set, the proxy chains to it: the target host is then
checked by resolving it here (the upstream proxy resolves it again: point a proxy at the open internet only).

One proxy per (allow-list, upstream) runs per process, started on first use in daemon threads.
"""

from __future__ import annotations

import base64
import logging
import selectors
import socket
import socketserver
import threading
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from archive.net.guard import BlockedURL, NetGuard, parse_target
from archive.net.http import guarded_connect

logger = logging.getLogger(__name__)

_HEAD_LIMIT = 64 * 1024
_HOP_HEADERS = {"proxy-connection", "proxy-authorization", "connection", "keep-alive"}


class _ProxyError(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason = status, reason


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The request head (up to the blank line) and whatever body bytes came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise _ProxyError(400, "Bad Request", "connection closed before the request head ended")
        data += chunk
        if len(data) > _HEAD_LIMIT:
            raise _ProxyError(431, "Request Header Fields Too Large", "request head over 64 KiB")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


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


def _pipe(a: socket.socket, b: socket.socket, idle: float) -> None:
    """Copy bytes both ways until one side closes or nothing moves for ``idle`` seconds."""
    selector = selectors.DefaultSelector()
    selector.register(a, selectors.EVENT_READ, b)
    selector.register(b, selectors.EVENT_READ, a)
    try:
        while True:
            events = selector.select(idle)
            if not events:
                return
            for key, _ in events:
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                key.data.sendall(data)
    except OSError:
        return
    finally:
        selector.close()


class _Handler(socketserver.BaseRequestHandler):
    server: GuardedForwardProxy

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(self.server.timeout_seconds)
        try:
            head, rest = _read_head(client)
            upstream, first = self.server.open(head)
        except _ProxyError as exc:
            body = f"{exc}\n".encode()
            if exc.status == 403:
                logger.warning("refused: %s", exc)
            try:
                client.sendall(f"HTTP/1.1 {exc.status} {exc.reason}\r\nContent-Type: text/plain\r\n"
                               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            except OSError:
                pass
            return
        except OSError:
            return
        with upstream:
            try:
                if first is None:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                else:
                    upstream.sendall(first)
                if rest:
                    upstream.sendall(rest)
            except OSError:
                return
            _pipe(client, upstream, self.server.timeout_seconds)


class GuardedForwardProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 whose every outbound connection is checked by a NetGuard."""

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

    def open(self, head: bytes) -> tuple[socket.socket, bytes | None]:
        """The connection a request head asks for, and the head to send on it (None: a CONNECT tunnel)."""
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise _ProxyError(400, "Bad Request", f"not a request line: {lines[0][:200]!r}") from None
        if method.upper() == "CONNECT":
            host, port = _authority(target)
            out: bytes | None = None
        else:
            try:
                parsed = parse_target(target)
            except BlockedURL as exc:
                raise _ProxyError(403, "Forbidden", f"refused by the net guard: {exc}") from None
            host, port = parsed.host, parsed.port
            parts = urlsplit(target)
            headers = [line for line in lines[1:] if line.split(":", 1)[0].strip().lower() not in _HOP_HEADERS]
            origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            line = f"{method} {target if self.upstream else origin} {version}"
            out = "\r\n".join([line, *headers, "Connection: close", "", ""]).encode("latin-1")
        try:
            if self.upstream:
                return self._via_upstream(host, port, method, target, version, out)
            return guarded_connect(self.guard, host, port, self.timeout_seconds), out
        except BlockedURL as exc:
            raise _ProxyError(403, "Forbidden", f"refused by the net guard: {exc}") from None
        except OSError as exc:
            raise _ProxyError(502, "Bad Gateway", f"cannot connect to {host}:{port}: {exc}") from None

    def _via_upstream(self, host: str, port: int, method: str, target: str, version: str,
                      out: bytes | None) -> tuple[socket.socket, bytes | None]:
        """Chain to LASTSEEN_PROXY after checking the target host here (the upstream resolves it again)."""
        self.guard.check_host(host, port)
        proxy = urlsplit(self.upstream)
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
            return sock, out
        sock = socket.create_connection((proxy.hostname or "", proxy.port or 8080), self.timeout_seconds)
        if out is None:  # CONNECT through the upstream: its answer goes to the client as is
            return sock, f"CONNECT {host}:{port} {version}\r\nHost: {host}:{port}\r\n{auth}\r\n".encode("latin-1")
        line, _, rest = out.partition(b"\r\n")
        return sock, line + b"\r\n" + auth.encode("latin-1") + rest


_running: dict[tuple[NetGuard, str], GuardedForwardProxy] = {}
_lock = threading.Lock()


def guarded_proxy_url(allow_networks: Iterable[str] = (), upstream: str = "") -> str:
    """The URL of this process's guarded forwarding proxy for this allow-list and upstream, started if needed."""
    guard = NetGuard.from_settings(allow_networks)
    key = (guard, upstream or "")
    with _lock:
        proxy = _running.get(key)
        if proxy is None:
            proxy = _running[key] = GuardedForwardProxy(guard, upstream or "").start()
        return proxy.url
