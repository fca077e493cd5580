"""URL checks and normalization: one tracked URL however it was written."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

from archive.errors import UsageError

# Query parameters that only say where a click came from; dropping them merges duplicates.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "ysclid", "igshid", "mc_cid", "mc_eid",
    "_ga", "_gl", "ref_src", "ref_url", "cmpid", "smid", "utm_referrer",
})
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 8000  # longer than any browser sends; what the API accepts too
MAX_HOST_LENGTH = 253  # DNS: a name longer than this cannot resolve
_SPACE = re.compile(r"\s")  # what str.isspace() calls white space, Unicode's included
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidURL(UsageError, ValueError):
    """A URL lastseen cannot track; the message says why in one line (bad input; a ValueError to validators)."""


def check_url(url: str) -> str:
    """The URL stripped, or InvalidURL when it is not an absolute http(s) URL with a host."""
    return _checked(url)[0]


def _checked(url: str) -> tuple[str, SplitResult]:
    """check_url's stripped URL and its parts (split once, for the callers that read them)."""
    text = url.strip()
    if not text:
        raise InvalidURL("empty URL")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL is longer than {MAX_URL_LENGTH} characters: {text[:60]}...")
    if _SPACE.search(text):
        raise InvalidURL(f"URL contains white space: {text[:200]!r}")
    if _CONTROL.search(text):
        raise InvalidURL(f"URL contains control characters: {text[:200]!r}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidURL(f"URL is not valid Unicode text: {text[:200]!r}") from None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"not a valid URL: {text!r} ({exc})") from None
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise InvalidURL(f"only http and https URLs can be tracked, not {parts.scheme or 'no scheme'!r}: {text}")
    host = parts.hostname
    if not host or host.startswith(".") or ".." in host:
        raise InvalidURL(f"URL has no valid host: {text}")
    if len(host) > MAX_HOST_LENGTH:
        raise InvalidURL(f"URL's host is longer than {MAX_HOST_LENGTH} characters: {text[:60]}...")
    if port == 0:
        raise InvalidURL(f"URL has an invalid port: {text}")
    return text, parts


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


def without_userinfo(url: str) -> str:
    """The URL as given (stripped), less any `user:password@`: what lastseen stores, fetches and shows.

    Credentials in a URL would end up in WARC headers, TimeMaps and status pages; a site that needs them is
    not one lastseen archives.
    """
    return _given(*_checked(url))


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, default port; userinfo, fragment and tracking parameters dropped, the rest
    kept. Only for telling sources apart: what is fetched and stored is the URL as given (without_userinfo)."""
    return _normalized(_checked(url)[1])


def given_and_normalized(url: str) -> tuple[str, str]:
    """without_userinfo and normalize_url of one URL, checked and split once (imports read millions)."""
    text, parts = _checked(url)
    return _given(text, parts), _normalized(parts)


def _given(text: str, parts: SplitResult) -> str:
    if "@" not in parts.netloc:
        return text
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _normalized(parts: SplitResult) -> str:
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host.lower()
    except UnicodeError:
        host = host.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{parts.port}"
    path = quote(parts.path, safe="/%:@!$&'()*+,;=~-._") or "/"
    kept = [piece for piece in parts.query.split("&") if piece and not _is_tracking(unquote(piece.split("=", 1)[0]))]
    query = "&".join(kept)
    return urlunsplit((scheme, netloc, path, query, ""))


def url_hash(normalized: str) -> str:
    """SHA-256 of a normalized URL: a fixed-size key that indexes well for URLs of any length."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def url_key(url: str) -> str:
    """The key under which captures of a URL are found (Capture.url_hash): url_hash of its normalized form,
    or of the text itself when it cannot be normalized, so that every row has one."""
    try:
        return url_hash(normalize_url(url))
    except InvalidURL:
        return url_hash(url)


def domain_of(url: str) -> str:
    """The lower-case host of a URL, without a leading 'www.'."""
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host
