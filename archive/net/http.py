"""HTTP plumbing written once: guarded requests sessions (User-Agent, proxy, CA bundle) and one-line messages.

Every outbound requests session of lastseen (Wayback client, checks, oEmbed, alert webhooks) is made here, so
the proxy setting, the CA bundle and the SSRF guard apply to all of them the same way. The guard sits in the
connection class: it resolves the host once, checks every address with archive.net.guard, and connects to
those addresses only, for the first request and for every redirect (requests opens each hop through the same
adapter). Through a proxy the proxy connects, so the target URL is checked (resolved here) before it is sent.
"""

from __future__ import annotations

import html
import os
import re
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies, select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from archive.config import ConfigError
from archive.net.guard import BlockedURL, NetGuard, check_public_url


class GuardRefused(NewConnectionError):
    """A connection the net guard refused: the host is, or resolves to, a non-public address."""


def guarded_connect(guard: NetGuard, host: str, port: int, timeout: Any,
                    source_address: Any = None, socket_options: Any = None) -> socket.socket:
    """A socket connected to host:port, after resolving once and checking every address with the guard.

    BlockedURL when an address is refused (a name with one non-public address is refused whole: rebinding
    tricks hand out mixed answers); OSError as socket.create_connection raises it otherwise.
    """
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if not guard.is_trusted(host, port):
        guard.check_addresses(host, port, [str(info[4][0]).split("%", 1)[0] for info in infos])
    error: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is not None and timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"getaddrinfo returned no address for {host}")


class _GuardedMixin:
    guard: NetGuard = NetGuard()

    def _new_conn(self) -> socket.socket:
        host, port = self._dns_host, self.port  # type: ignore[attr-defined]
        try:
            return guarded_connect(self.guard, host, port, self.timeout,  # type: ignore[attr-defined]
                                   self.source_address, self.socket_options)  # type: ignore[attr-defined]
        except BlockedURL as exc:
            raise GuardRefused(self, f"refused by the net guard: {exc}") from None
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[attr-defined,arg-type]
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {host} timed out. "
                                      f"(connect timeout={self.timeout})") from exc  # type: ignore[attr-defined]
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


def _guarded_pools(guard: NetGuard) -> dict[str, type]:
    """Connection pool classes whose connections ask this guard."""
    http_conn = type("GuardedHTTPConnection", (_GuardedMixin, HTTPConnection), {"guard": guard})
    https_conn = type("GuardedHTTPSConnection", (_GuardedMixin, HTTPSConnection), {"guard": guard})
    return {"http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})}


class GuardedAdapter(HTTPAdapter):
    """requests' adapter with the net guard on every connection it opens (and a URL check through a proxy)."""

    def __init__(self, guard: NetGuard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pools(self.guard)

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,  # type: ignore[override]
             verify: bool | str = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        try:
            if select_proxy(request.url or "", proxies):
                check_public_url(request.url or "", self.guard)
            elif urlsplit(request.url or "").scheme.lower() in {"http", "https"}:
                from archive.net.guard import parse_target

                parse_target(request.url or "")
        except BlockedURL as exc:
            raise requests.ConnectionError(f"refused by the net guard: {exc}", request=request) from None
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def ca_bundle() -> str | bool:
    """Certificates to verify TLS with: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE or SSL_CERT_FILE, else the default.

    requests itself reads the first two (in that order), not SSL_CERT_FILE, and none of them once a proxy
    makes us ignore the environment; setting this on each session covers both.
    """
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(name):
            return os.environ[name]
    return True


def default_user_agent() -> str:
    """lastseen/<version>: the User-Agent when the settings give none."""
    from archive import __version__

    return f"lastseen/{__version__}"


def make_session(user_agent: str, proxy: str = "", *, allow_networks: Iterable[str] | NetGuard = (),
                 trust: Iterable[str] = (), **adapter: Any) -> requests.Session:
    """A guarded requests session with our User-Agent; with a proxy, every request goes through it.

    Every connection is checked by the net guard: non-public addresses are refused unless ``allow_networks``
    (LASTSEEN_ALLOW_NETWORKS entries, or a NetGuard) allows them; ``trust`` names operator-configured
    endpoints (URLs) reached whatever their address. ``adapter`` goes to HTTPAdapter (pool sizes, retries).
    When a proxy is set the environment's proxy variables (and NO_PROXY) are ignored, so nothing bypasses
    it. SOCKS proxies need PySocks (``requests[socks]``); without it each request fails with a one-line
    transient result saying so.
    """
    guard = allow_networks if isinstance(allow_networks, NetGuard) else NetGuard.from_settings(allow_networks,
                                                                                                trust=trust)
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    session.verify = ca_bundle()
    guarded = GuardedAdapter(guard, **adapter)
    session.mount("http://", guarded)
    session.mount("https://", guarded)
    if proxy:
        session.trust_env = False
        session.proxies = {"http": proxy, "https": proxy}
    return session


def proxy_for(url: str, proxy: str = "") -> str:
    """The proxy a request for this URL goes through ("" for none): the proxy setting (LASTSEEN_PROXY), else
    the environment's HTTPS_PROXY/HTTP_PROXY/ALL_PROXY unless NO_PROXY names the host, read as requests reads
    them for every session without a proxy setting (so clients that connect by themselves agree with it)."""
    if proxy:
        return proxy
    return select_proxy(url, get_environ_proxies(url)) or ""


def request_proxies(proxy: str) -> dict[str, str] | None:
    """requests' per-request proxies for the proxy setting; None lets the standard variables (HTTPS_PROXY...) decide.

    A SOCKS proxy without PySocks raises ConfigError up front, in one line.
    """
    if not proxy:
        return None
    if urlsplit(proxy).scheme.lower().startswith("socks"):
        try:
            import socks  # noqa: F401 - requests needs PySocks for SOCKS proxies
        except ImportError:
            raise ConfigError("LASTSEEN_PROXY: a SOCKS proxy needs the PySocks package for checks "
                             "(pip install 'requests[socks]')") from None
    return {"http": proxy, "https": proxy}


def one_line(text: str, limit: int = 300) -> str:
    """Whitespace collapsed, HTML tags and entities removed, at most ``limit`` characters."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
