"""What a video's provider says of it: yt-dlp's info without downloading, else oEmbed.

The one oEmbed client of lastseen (the crawl's metadata and the checks both ask through ask_oembed, on a
requests session of archive.net.http, so the proxy, the CA bundle and the net guard apply). Runs in a worker
thread (both are blocking). A yt-dlp error that says the video is gone is an answer (removed, private,
geo-blocked...), not a crash. yt-dlp goes through the guarded forwarding proxy (archive.net.forward, chained
to the proxy setting); ``allow_networks`` is LASTSEEN_ALLOW_NETWORKS.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3.exceptions

from archive.net.forward import guarded_proxy_url
from archive.net.http import ca_bundle, default_user_agent, make_session
from archive.providers import OEMBED_ENDPOINTS, ytdlp_url

logger = logging.getLogger(__name__)

_OEMBED_MAX = 1024 * 1024
_SECRET_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization", "x-csrf-token", "x-guest-token"})


@dataclass
class VideoInfo:
    """The provider's answer: full info (yt-dlp or oEmbed), or an availability outcome, or an error."""

    info: dict[str, Any] | None
    source: str | None
    availability: str | None
    message: str = ""


def guarded_ydl_options(proxy: str | None, allow_networks: Iterable[str] = ()) -> dict[str, Any]:
    """yt-dlp options that send all its traffic through the net guard's forwarding proxy, verifying TLS with
    the same CA bundle as every other client (archive.net.http.ca_bundle)."""
    options: dict[str, Any] = {"proxy": guarded_proxy_url(tuple(allow_networks), proxy or "")}
    bundle = ca_bundle()
    if isinstance(bundle, str):
        # yt-dlp has no CA-file option: it loads certifi's list, or with the `no-certifi` compatibility option
        # OpenSSL's default paths, which OpenSSL reads from SSL_CERT_FILE each time. So the bundle named by
        # REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE becomes this process's SSL_CERT_FILE as well.
        if os.environ.get("SSL_CERT_FILE") != bundle:
            os.environ["SSL_CERT_FILE"] = bundle
        options["compat_opts"] = ["no-certifi"]
    deno = _deno_path()
    if deno:
        # YouTube's challenges need a JavaScript runtime; the `deno` package's binary sits in the virtual
        # environment, which is not on PATH when `lastseen` runs without activating it.
        options["js_runtimes"] = {"deno": {"path": deno}}
    return options


def _deno_path() -> str | None:
    """The deno executable of the `deno` package, if installed."""
    try:
        import deno
    except ImportError:
        return None
    try:
        return str(deno.find_deno_bin())
    except Exception:  # a package without its binary for this platform
        return None


def _ydl_options(proxy: str | None, timeout: int, cookies: str | None,
                 allow_networks: Iterable[str] = ()) -> dict[str, Any]:
    options: dict[str, Any] = {
        "quiet": True, "no_warnings": True, "skip_download": True, "noplaylist": True,
        "socket_timeout": timeout, "extractor_retries": 1, "noprogress": True, "logger": logger,
        "retries": 1, "playlist_items": "1",
    }
    options.update(guarded_ydl_options(proxy, allow_networks))
    if cookies:
        options["cookiefile"] = cookies
    return options


def scrub_info(value: Any) -> Any:
    """yt-dlp's info without what a site or the archivist's cookies file gave it to authenticate.

    Drops every "cookies" field (yt-dlp copies the cookies it sent into each format) and the cookie and
    authorization headers of every "http_headers"; nothing of the kind may reach an archive.
    """
    if isinstance(value, dict):
        clean: dict[str, Any] = {}
        for key, item in value.items():
            if key == "cookies":
                continue
            if key == "http_headers" and isinstance(item, dict):
                clean[key] = {k: v for k, v in item.items() if str(k).lower() not in _SECRET_HEADERS}
            else:
                clean[key] = scrub_info(item)
        return clean
    if isinstance(value, list):
        return [scrub_info(item) for item in value]
    return value


def fetch_ytdlp(url: str, *, proxy: str | None = None, timeout: int = 30, cookies: str | None = None,
                allow_networks: Iterable[str] = ()) -> VideoInfo:
    """yt-dlp's info JSON (scrubbed of cookies and auth headers) for a video page, or the outcome its error names.

    cookies: a Netscape cookies file (a collection's setting) for providers that ask us to sign in. Its
    traffic goes through the net guard's forwarding proxy (chained to `proxy`).
    """
    import yt_dlp
    from yt_dlp.utils import DownloadError

    from archive.status import classify_ytdlp_error

    try:
        with yt_dlp.YoutubeDL(_ydl_options(proxy, timeout, cookies, allow_networks)) as ydl:
            info = ydl.extract_info(ytdlp_url(url), download=False)
            clean = scrub_info(ydl.sanitize_info(info))
    except DownloadError as exc:
        message = str(exc).removeprefix("ERROR: ").strip().splitlines()[0]
        verdict = classify_ytdlp_error(message)
        return VideoInfo(None, None, verdict.outcome if verdict else None, message)
    except Exception as exc:  # extractor bugs must not stop a crawl
        return VideoInfo(None, None, None, f"{type(exc).__name__}: {exc}".splitlines()[0])
    return VideoInfo(clean, "yt-dlp", clean.get("availability") or "public")


@dataclass
class OEmbedReply:
    """What an oEmbed endpoint answered: status and body (capped) or the error, and the URLs passed through."""

    url: str
    status: int | None = None
    body: bytes = b""
    chain: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    @property
    def final_url(self) -> str | None:
        """The URL that answered (after redirects); None when nothing did."""
        return self.chain[-1] if self.status is not None and self.chain else None


def oembed_url(endpoint: str, url: str) -> str:
    """The endpoint's request URL asking about url, in JSON."""
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode({'url': url, 'format': 'json'})}"


def _read_capped(response: requests.Response, max_bytes: int, deadline: float, timeout: float) -> bytes:
    """The (decoded) body, at most max_bytes, read within the deadline."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        chunks.append(chunk[:max_bytes - size])
        size += len(chunks[-1])
        if size >= max_bytes:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the answer took longer than {timeout:g} s")
    return b"".join(chunks)


def ask_oembed(session: requests.Session, endpoint: str, url: str, *, timeout: float,
               max_bytes: int = _OEMBED_MAX, proxies: dict[str, str] | None = None) -> OEmbedReply:
    """GET the endpoint's answer about url on this session; failures are in the reply, never raised."""
    reply = OEmbedReply(oembed_url(endpoint, url))
    started = time.monotonic()
    try:
        with session.get(reply.url, headers={"Accept": "application/json"}, timeout=timeout, proxies=proxies,
                         stream=True) as response:
            reply.status = response.status_code
            reply.chain = [hop.url for hop in response.history] + [response.url]
            reply.body = _read_capped(response, max_bytes, started + timeout, timeout)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        reply.status, reply.body, reply.error = None, b"", (str(exc).splitlines() or [type(exc).__name__])[0]
    finally:
        reply.seconds = time.monotonic() - started
    return reply


def fetch_oembed(provider: str, url: str, *, proxy: str | None = None, timeout: int = 30,
                 endpoints: dict[str, str] | None = None, allow_networks: Iterable[str] = ()) -> VideoInfo:
    """The provider's oEmbed answer; a 404 there means the video is gone."""
    from archive.status import classify_oembed

    endpoint = (endpoints or OEMBED_ENDPOINTS).get(provider)
    if endpoint is None:
        return VideoInfo(None, None, None, f"no oEmbed endpoint for {provider}")
    with make_session(default_user_agent(), proxy or "", allow_networks=tuple(allow_networks)) as session:
        reply = ask_oembed(session, endpoint, url, timeout=timeout)
    if reply.status is None:
        return VideoInfo(None, None, None, f"oEmbed: {reply.error}")
    status, body = reply.status, reply.body
    verdict = classify_oembed(status, body, provider=provider)  # Vimeo's 404 says nothing (archive.status)
    if status == 200:
        try:
            data = json.loads(body)
        except ValueError:
            return VideoInfo(None, None, None, "oEmbed answer is not JSON")
        if isinstance(data, dict):
            return VideoInfo(data, "oembed", "public")
    return VideoInfo(None, None, verdict.outcome if verdict else None, f"oEmbed answered {status}")
