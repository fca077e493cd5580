"""Videos a page links to or embeds, each named by its provider and the provider's own id.

A page is parsed once with lxml and only the elements that can carry a video are read; each URL found is
recognized by archive.providers. Nothing here touches the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

from lxml import etree

from archive.extract.decode import decode_html
from archive.providers import HINTS, VideoRef, recognize

FOUND_AS = ("link", "iframe", "embed", "video", "source", "og:video", "json-ld")

# Cheap test before a link is parsed: a provider's host or a media extension appears in the lower-cased URL.
# (Literal alternatives only: a case-insensitive or look-behind pattern is ten times slower per link.)
_HINT = re.compile("|".join(re.escape(hint) for hint in HINTS))
_META_NAMES = frozenset({"og:video", "og:video:url", "og:video:secure_url", "twitter:player",
                         "twitter:player:stream"})
_JSONLD_KEYS = ("contentUrl", "embedUrl", "url")
_TAGS_NO_DIV = ("a", "area", "iframe", "frame", "embed", "object", "param", "video", "source", "meta", "script",
                "base", "blockquote")
_TAGS = (*_TAGS_NO_DIV, "div")  # <div data-href> is the Facebook SDK's embed; only read when the page has one
_ABSOLUTE = re.compile(r"""(?:https?:)?//[^\s"'<>\\]+""", re.IGNORECASE)


def _parse(text: str) -> etree._Element | None:
    parser = etree.HTMLParser(encoding="utf-8", recover=True, no_network=True, remove_comments=True,
                              remove_pis=True, huge_tree=True, default_doctype=False, collect_ids=False)
    try:
        return etree.fromstring(text.encode("utf-8", errors="replace"), parser)
    except (etree.LxmlError, ValueError):
        return None


def _is_video_type(value: object) -> bool:
    if isinstance(value, str):
        return value.rsplit("/", 1)[-1].rsplit(":", 1)[-1] == "VideoObject"
    if isinstance(value, list):
        return any(_is_video_type(v) for v in value)
    return False


def _jsonld_urls(data: object, depth: int = 0) -> Iterator[str]:
    """contentUrl, embedUrl and url of every VideoObject, however deep (@graph, lists, nested)."""
    if depth > 32:
        return
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict | list):
                yield from _jsonld_urls(item, depth + 1)
        return
    if not isinstance(data, dict):
        return
    if _is_video_type(data.get("@type")):
        for key, value in data.items():
            if not isinstance(key, str) or key.rsplit("/", 1)[-1].rsplit(":", 1)[-1] not in _JSONLD_KEYS:
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    item = item.get("@id") or item.get("url") or item.get("@value")
                if isinstance(item, str):
                    yield item
    for value in data.values():
        if isinstance(value, dict | list):
            yield from _jsonld_urls(value, depth + 1)


def _jsonld(text: str | None) -> list[str]:
    if not text:
        return []
    text = text.strip()
    for prefix in ("<!--", "//<![CDATA[", "<![CDATA["):
        text = text.removeprefix(prefix).lstrip()
    for suffix in ("-->", "//]]>", "]]>", ";"):
        text = text.removesuffix(suffix).rstrip()
    try:
        data = json.loads(text, strict=False)
    except (ValueError, RecursionError):
        return []
    try:
        return list(_jsonld_urls(data))
    except RecursionError:
        return []


def _host_hint(url: str) -> bool:
    """True when relative links against this base may be videos (the base itself is a provider's host)."""
    try:
        return bool(_HINT.search(urlsplit(url.strip()).hostname or ""))
    except ValueError:
        return False


def _candidates(root: etree._Element, base_hint: bool,
                tags: tuple[str, ...]) -> tuple[list[tuple[str, str]], str | None]:
    """(raw URL, found_as) in document order, and the first <base href>.

    Links are many and rarely videos, so they are kept only when the lower-cased URL hints at a provider or a
    media file, or when they are relative to a base on a provider's host.
    """
    out: list[tuple[str, str]] = []
    add = out.append
    hint = _HINT.search
    base_href = None
    for el in root.iter(*tags):
        tag = el.tag
        get = el.get
        if tag == "a" or tag == "area":
            href = get("href")
            if href and (hint(href.lower()) or (base_hint and "//" not in href[:8])):
                add((href, "link"))
        elif tag == "div":
            href = get("data-href")
            if href and (hint(href.lower()) or base_hint):
                add((href, "embed"))
        elif tag == "iframe" or tag == "frame":
            for attr in ("src", "data-src", "data-lazy-src"):
                value = get(attr)
                if value:
                    add((value, "iframe"))
        elif tag == "video":
            for attr in ("src", "data-src"):
                value = get(attr)
                if value:
                    add((value, "video"))
        elif tag == "source":
            value = get("src")
            parent = el.getparent()
            if value and parent is not None and parent.tag == "video":
                add((value, "source"))
        elif tag == "meta":
            name = (get("property") or get("name") or "").strip().lower()
            if name in _META_NAMES:
                value = get("content")
                if value:
                    add((value, "og:video"))
        elif tag == "script":
            if "ld+json" in (get("type") or "").lower():
                for url in _jsonld(el.text):
                    add((url, "json-ld"))
            post = get("data-telegram-post")
            if post:
                add(("https://t.me/" + post.strip().lstrip("/"), "embed"))
        elif tag == "embed":
            value = get("src")
            if value:
                add((value, "embed"))
        elif tag == "object":
            value = get("data")
            if value:
                add((value, "embed"))
        elif tag == "param":
            value = get("value")
            if value and (get("name") or "").lower() in ("movie", "src", "url"):
                add((value, "embed"))
        elif tag == "blockquote":
            for attr in ("cite", "data-instgrm-permalink"):
                value = get(attr)
                if value:
                    add((value, "embed"))
            if "twitter-" in (get("class") or ""):  # a tweet embed: its status link is the embed
                for a in el.iter("a"):
                    href = a.get("href")
                    if href and hint(href.lower()):
                        add((href, "embed"))
        elif tag == "base":
            href = get("href")
            if base_href is None and href:
                base_href = href
                if "//" in href[:8]:
                    base_hint = _host_hint(href)
    return out, base_href


def _absolute(raw: str, base: str, base_scheme: str) -> str:
    raw = raw.strip()
    head = raw[:8].lower()
    if head.startswith("https://") or head.startswith("http://"):
        return raw
    if raw.startswith("//"):
        return f"{base_scheme}:{raw}"
    try:
        return urljoin(base, raw)
    except ValueError:
        return raw


def find_videos(html: str | bytes, base_url: str, *, encoding: str | None = None) -> list[VideoRef]:
    """Every video the page links to or embeds, once each by (provider, video_id), in first-seen order.

    `encoding` is the charset from the HTTP header when known; bytes are otherwise decoded as
    archive.extract.decode reads them (BOM, <meta charset>, detection). Broken markup, binary bytes and bad
    JSON-LD give what can be found.
    """
    if isinstance(html, bytes | bytearray | memoryview):
        text = decode_html(bytes(html), charset=encoding)[0]
    elif isinstance(html, str):
        text = html
    else:
        return []
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.strip():
        return []
    base_url = (base_url or "").strip()
    root = _parse(text)
    if root is not None:
        tags = _TAGS if "data-href" in text else _TAGS_NO_DIV
        candidates, base_href = _candidates(root, _host_hint(base_url), tags)
    else:  # lxml gave up: absolute URLs in the text are still worth having
        candidates = [(m.group(0), "link") for m in _ABSOLUTE.finditer(text)]
        base_href = None
    if base_href:
        base_url = _absolute(base_href, base_url, "https") if base_url else base_href.strip()
    try:
        base_scheme = urlsplit(base_url).scheme.lower()
    except ValueError:
        base_scheme = ""
    if base_scheme not in ("http", "https"):
        base_scheme = "https"

    seen: set[tuple[str, str]] = set()
    refs: list[VideoRef] = []
    for raw, found_as in candidates:
        found = recognize(_absolute(raw, base_url, base_scheme))
        if found is None or (found[0], found[1]) in seen:
            continue
        seen.add((found[0], found[1]))
        refs.append(VideoRef(found[0], found[1], found[2], found_as))
    return refs
