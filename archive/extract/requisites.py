"""What a page needs to be seen again: the URLs of its images, styles, fonts, scripts, icons and frames.

Pure finding, no I/O: the crawl (crawler.requisites) fetches what this finds. HTML is read with lxml, CSS with
tinycss2 (a kept CSS tokenizer: `url()` forms, escapes, comments and `@import` by the CSS syntax spec, which
regexes get wrong), so a page's inline styles and its stylesheets are read the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html
import tinycss2
from lxml import etree

from archive.extract.decode import decode_html

_MAX_INPUT = 5 * 1024 * 1024  # characters of a page or stylesheet read for requisites
_IMAGE_SETS = {"image-set", "-webkit-image-set"}
_ICON_RELS = {"icon", "shortcut", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"}


@dataclass(frozen=True)
class Requisite:
    """One URL a page needs, and what it is for (image, stylesheet, import, css, script, icon, poster, frame)."""

    url: str
    kind: str


def html_requisites(body: bytes, url: str, content_type: str | None, *, frames: bool = True) -> list[Requisite]:
    """A page's requisites in document order, each URL once; `frames=False` leaves out its iframes (a frame's
    own frames are not followed: one level)."""
    parsed = page_tree(body, url, content_type)
    return _unique(_from_tree(*parsed, frames)) if parsed else []


def page_tree(body: bytes, url: str, content_type: str | None) -> tuple[Any, str] | None:
    """A page parsed (its first 5M characters, decoded as served) with the base its links resolve against; None
    when there is nothing to parse. Shared by every pure finder of a page's links (requisites, caption tracks)."""
    if not body:
        return None
    text = decode_html(body, content_type)[0][:_MAX_INPUT].replace("\x00", "")
    try:
        tree = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return None
    bases = tree.xpath("//base/@href")
    return tree, (urljoin(url, bases[0].strip()) if bases else url)


def css_requisites(data: bytes | str, url: str) -> list[Requisite]:
    """A stylesheet's imports (kind `import`) and every other `url()` it names (fonts, backgrounds: `css`)."""
    if isinstance(data, bytes):
        rules, _encoding = tinycss2.parse_stylesheet_bytes(data[:_MAX_INPUT], skip_comments=True,
                                                           skip_whitespace=True)
    else:
        rules = tinycss2.parse_stylesheet(data[:_MAX_INPUT], skip_comments=True, skip_whitespace=True)
    return _unique(_from_rules(rules, url))


def inline_css_requisites(text: str, url: str) -> list[Requisite]:
    """The `url()`s of a `style` attribute (a declaration list, not a stylesheet)."""
    return _unique(Requisite(link, "css") for link in _urls(tinycss2.parse_blocks_contents(text[:_MAX_INPUT]), url))


def _from_tree(tree: Any, base: str, frames: bool) -> Iterator[Requisite]:
    for element in tree.iter(etree.Element):
        tag = element.tag if isinstance(element.tag, str) else ""
        get = element.get
        if tag == "img":
            yield from _one(base, get("src"), "image")
            yield from _srcset(base, get("srcset"))
        elif tag == "source":  # a picture's sources; a video's are its media, kept by crawler.media
            yield from _srcset(base, get("srcset"))
        elif tag in {"video", "audio"}:
            yield from _one(base, get("poster"), "poster")
        elif tag == "input" and (get("type") or "").lower() == "image":
            yield from _one(base, get("src"), "image")
        elif tag == "script":
            yield from _one(base, get("src"), "script")
        elif tag == "link":
            rels = {rel.lower() for rel in (get("rel") or "").split()}
            if "stylesheet" in rels:
                yield from _one(base, get("href"), "stylesheet")
            elif rels & _ICON_RELS:
                yield from _one(base, get("href"), "icon")
        elif tag == "iframe" and frames:
            yield from _one(base, get("src"), "frame")
        elif tag == "style" and element.text:
            yield from css_requisites(element.text, base)
        style = get("style")
        if style and "url" in style.lower():
            yield from inline_css_requisites(style, base)


def _from_rules(rules: Iterable[Any], url: str) -> Iterator[Requisite]:
    for rule in rules:
        if rule.type == "at-rule" and rule.lower_at_keyword == "import":
            for token in rule.prelude:
                target = token.value if token.type == "string" else _token_url(token)
                if target is not None:
                    yield from _one(url, target, "import")
                    break
            continue
        if rule.type == "at-rule":
            for link in _urls(rule.prelude, url):
                yield Requisite(link, "css")
            if rule.content is not None:
                yield from _from_rules(tinycss2.parse_blocks_contents(rule.content, skip_comments=True,
                                                                      skip_whitespace=True), url)
        elif rule.type == "qualified-rule":
            yield from (Requisite(link, "css") for link in _urls(rule.content, url))
        elif rule.type == "declaration":
            yield from (Requisite(link, "css") for link in _urls(rule.value, url))


def _urls(tokens: Iterable[Any] | None, base: str, strings: bool = False) -> Iterator[str]:
    """Every URL named in a token list, nested blocks and functions included; `strings`: bare strings are URLs
    too (inside image-set())."""
    for token in tokens or ():
        target = token.value if strings and token.type == "string" else _token_url(token)
        if target is not None:
            link = absolute_url(base, target)
            if link:
                yield link
        elif token.type == "function" and token.lower_name in _IMAGE_SETS:
            yield from _urls(token.arguments, base, strings=True)
        elif token.type in {"function", "() block", "[] block", "{} block"}:
            yield from _urls(token.arguments if token.type == "function" else token.content, base)
        elif token.type == "declaration":
            yield from _urls(token.value, base)


def _token_url(token: Any) -> str | None:
    """The URL of `url(x)` or `url("x")`, else None."""
    if token.type == "url":
        return token.value
    if token.type == "function" and token.lower_name == "url":
        strings = [t.value for t in token.arguments if t.type == "string"]
        return strings[0] if strings else None
    return None


def _srcset(base: str, srcset: str | None) -> Iterator[Requisite]:
    """Each candidate URL of a srcset: URLs end at whitespace; a comma ends one only after its descriptor."""
    if not srcset:
        return
    position, size = 0, len(srcset)
    while position < size:
        while position < size and (srcset[position].isspace() or srcset[position] == ","):
            position += 1
        start = position
        while position < size and not srcset[position].isspace():
            position += 1
        candidate = srcset[start:position]
        if candidate.endswith(","):
            candidate = candidate.rstrip(",")
        else:
            while position < size and srcset[position] != ",":
                position += 1
        if candidate:
            yield from _one(base, candidate, "image")


def _one(base: str, value: str | None, kind: str) -> Iterator[Requisite]:
    link = absolute_url(base, value) if value else None
    if link:
        yield Requisite(link, kind)


def absolute_url(base: str, value: str) -> str | None:
    """An absolute http(s) URL without its fragment; None for data:, javascript:, blob: and the unparseable."""
    value = value.strip()
    if not value or value.startswith("#"):
        return None
    try:
        parts = urlsplit(urljoin(base, value))
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _unique(found: Iterable[Requisite]) -> list[Requisite]:
    seen: dict[str, Requisite] = {}
    for requisite in found:
        seen.setdefault(requisite.url, requisite)
    return list(seen.values())
