"""The caption tracks a page gives its videos: each `<video>`'s (and `<audio>`'s) `<track src>`, with its language.

Pure finding, no I/O: the crawl's media path (crawler.captions) fetches what this finds and keeps each file
beside the video's media, so the words of a video stay readable after its page is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

from archive.extract.decode import decode_html

MAX_TRACKS = 40  # tracks of one page kept at most (a page offering more is not a player, or is hostile)
_MAX_INPUT = 5 * 1024 * 1024  # characters of a page read for tracks
_TEXT_KINDS = {"subtitles", "captions", "descriptions", ""}  # `chapters` and `metadata` are not what is said


@dataclass(frozen=True)
class Track:
    """One caption file: its absolute URL, its language (`srclang`, None when the page says none) and kind."""

    url: str
    language: str | None
    kind: str


def page_tracks(body: bytes, url: str, content_type: str | None) -> list[Track]:
    """The caption tracks of a page's video and audio players, in document order, each URL once."""
    if not body:
        return []
    text = decode_html(body, content_type)[0][:_MAX_INPUT].replace("\x00", "")
    try:
        tree = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return []
    bases = tree.xpath("//base/@href")
    base = urljoin(url, bases[0].strip()) if bases else url
    found: dict[str, Track] = {}
    for element in tree.xpath("//video//track[@src] | //audio//track[@src]"):
        kind = (element.get("kind") or "").strip().lower()
        link = _absolute(base, element.get("src") or "")
        if link is None or kind not in _TEXT_KINDS:
            continue
        language = (element.get("srclang") or "").strip()[:35] or None
        found.setdefault(link, Track(link, language, kind or "subtitles"))
        if len(found) >= MAX_TRACKS:
            break
    return list(found.values())


def _absolute(base: str, value: str) -> str | None:
    """An absolute http(s) URL without its fragment; None for data:, blob: and the unparseable."""
    try:
        parts = urlsplit(urljoin(base, value.strip()))
    except ValueError:
        return None
    if not value.strip() or parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
