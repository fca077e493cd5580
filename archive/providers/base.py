"""What every provider module shares: the URL it reads, the answer it gives, and the shape of a provider."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from archive.status import Classification, classify_oembed

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
    """A provider module: its name, domains, link hints and URL recognizer; what to ask it and how to read it.

    OEMBED is its oEmbed endpoint (None: it has none that answers without a key); PAGE the URL template of the
    page that says most about a video ({id}: the video id, {url}: its canonical URL, {query}: that URL's
    query with its "?", {token}: a request token where the endpoint wants one). read_page says what that page
    answered (None: nothing we can rely on; the HTTP answer then decides), read_oembed what oEmbed did.
    """

    NAME: str
    DOMAINS: tuple[str, ...]
    HINTS: tuple[str, ...]  # lower-case literals, one of which is in every URL of the provider
    OEMBED: str | None
    PAGE: str

    def recognize(self, url: VideoURL) -> Found | None:
        """(provider, video_id, canonical_url) when the URL is one of the provider's videos, else None."""

    def read_page(self, status: int, text: str) -> Classification | None:
        """What the provider's page (status, decoded body) says of the video."""

    def read_oembed(self, status: int, body: bytes | None) -> Classification | None:
        """What the provider's oEmbed endpoint says of the video."""


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


def load_json(text: str) -> object:
    """The JSON value of a whole body, or None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def json_after(text: str, marker: re.Pattern[str]) -> dict[str, Any] | None:
    """The first JSON object that follows a match of marker in text (a script's `var x = {...}`), or None."""
    decoder = json.JSONDecoder()
    for match in marker.finditer(text):
        try:
            value, _ = decoder.raw_decode(text, match.end())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def oembed_answer(status: int, body: bytes | None, *, not_found_is_gone: bool = True) -> Classification | None:
    """What an oEmbed endpoint's answer says, the way most providers answer (see classify_oembed).

    Rate limits (429) and server errors are kept too: a check that could not tell says so. 404 is gone only
    where the provider answers 404 for nothing else (not_found_is_gone).
    """
    if status in (404, 410) and not not_found_is_gone:
        return None
    return classify_oembed(status, body, include_transient=True)


def said(who: str, verdict: Classification | None, words: str = "") -> Classification | None:
    """The verdict with its detail prefixed by who said it (and the provider's own words when given)."""
    if verdict is None:
        return None
    detail = f"{who}: {words.strip()[:200]}" if words.strip() else f"{who}: {verdict.detail}"
    return Classification(verdict.outcome, detail)


def fill(template: str, video_id: str, canonical: str, token: str = "") -> str:
    """A PAGE template filled in for one video."""
    query = urlsplit(canonical).query
    return (template.replace("{id}", video_id).replace("{url}", canonical)
            .replace("{query}", f"?{query}" if query else "").replace("{token}", token))
