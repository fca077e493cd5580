"""HTTP plumbing written once: requests sessions (User-Agent, proxy, CA bundle) and one-line messages.

Every outbound requests session of lastseen (Wayback client, checks, alert webhooks) is made here, so the
proxy setting and the CA bundle apply to all of them the same way.
"""

from __future__ import annotations

import html
import os
import re
from urllib.parse import urlsplit

import requests


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


def make_session(user_agent: str, proxy: str = "") -> requests.Session:
    """A requests session with our User-Agent; with a proxy, every request goes through it.

    When a proxy is set the environment's proxy variables (and NO_PROXY) are ignored, so nothing bypasses
    it. SOCKS proxies need PySocks (``requests[socks]``); without it each request fails with a one-line
    transient result saying so.
    """
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    session.verify = ca_bundle()
    if proxy:
        session.trust_env = False
        session.proxies = {"http": proxy, "https": proxy}
    return session


def request_proxies(proxy: str) -> dict[str, str] | None:
    """requests' per-request proxies for the proxy setting; None lets the standard variables (HTTPS_PROXY...) decide.

    A SOCKS proxy without PySocks raises ValueError up front, in one line.
    """
    if not proxy:
        return None
    if urlsplit(proxy).scheme.lower().startswith("socks"):
        try:
            import socks  # noqa: F401 - requests needs PySocks for SOCKS proxies
        except ImportError:
            raise ValueError("LASTSEEN_PROXY: a SOCKS proxy needs the PySocks package for checks "
                             "(pip install 'requests[socks]')") from None
    return {"http": proxy, "https": proxy}


def one_line(text: str, limit: int = 300) -> str:
    """Whitespace collapsed, HTML tags and entities removed, at most ``limit`` characters."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
