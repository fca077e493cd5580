"""What every provider module shares: the URL it reads, the answer it gives, and the shape of a provider."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

Found = tuple[str, str, str]  # provider, video_id, canonical_url

CODE = re.compile(r"[A-Za-z0-9_-]+")  # a short code or key as providers write them in URLs


@dataclass(frozen=True)
class VideoRef:
    """One video: who hosts it, its id there, its public page, and how the page referred to it."""

    provider: str
    video_id: str
    canonical_url: str
    found_as: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.video_id)


@dataclass(frozen=True)
class VideoURL:
    """An absolute http(s) URL, cleaned and split the way recognizers read it."""

    url: str
    host: str
    domain: str  # the registered domain: the last two labels of the host
    path: str
    query: str

    @property
    def segments(self) -> list[str]:
        """The path's non-empty segments."""
        return [seg for seg in self.path.split("/") if seg]


class Provider(Protocol):
    """A provider module: its name, its domains, what hints at it in a link, and its URL recognizer."""

    NAME: str
    DOMAINS: tuple[str, ...]
    HINTS: tuple[str, ...]  # lower-case literals, one of which is in every URL of the provider

    def recognize(self, url: VideoURL) -> Found | None:
        """(provider, video_id, canonical_url) when the URL is one of the provider's videos, else None."""


def is_num(text: str | None) -> bool:
    """True for a non-empty string of ASCII digits."""
    return bool(text) and text.isascii() and text.isdigit()  # type: ignore[union-attr]


def query_params(query: str) -> dict[str, str]:
    """The first value of each parameter of a query string."""
    if not query:
        return {}
    return {k: v[0] for k, v in parse_qs(query).items()}


def _clean(url: str) -> str:
    """The URL as a browser would read it from an attribute: no white space inside, no &amp;, a scheme."""
    url = url.strip()
    if "\t" in url or "\n" in url or "\r" in url:
        url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    if " " in url:
        url = url.replace(" ", "%20")
    if "&amp;" in url:
        url = url.replace("&amp;", "&")
    if url.startswith("//"):
        url = "https:" + url
    return url


def parse_url(url: str) -> VideoURL | None:
    """The cleaned, split URL when it is an absolute http(s) URL with a host, else None."""
    url = _clean(url)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or "%" in host:
        return None  # "%" only gets there from white space inside the host: not a URL a browser would open
    domain = ".".join(host.rsplit(".", 2)[-2:])
    return VideoURL(url, host, domain, parts.path, parts.query)
