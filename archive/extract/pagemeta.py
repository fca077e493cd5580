"""What a page says about itself: title, authors, dates, language, main text, structured data, links.

Records which charset the page was read with and where it came from (archive.extract.decode). Garbage never
raises: a page gives whatever could be read.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

from archive.extract.decode import decode_html

logger = logging.getLogger(__name__)

_MAX_TEXT_INPUT = 8 * 1024 * 1024


@dataclass
class PageMetadata:
    """Everything extracted from one page; `as_dict()` is what goes into the WARC metadata record."""

    title: str | None = None
    canonical_url: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    modified: str | None = None
    language: str | None = None
    site_name: str | None = None
    description: str | None = None
    text: str | None = None
    structured: dict[str, Any] = field(default_factory=dict)
    outlinks: list[str] = field(default_factory=list)
    charset: str = "utf-8"
    charset_source: str = "default"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_html(content_type: str | None, body: bytes) -> bool:
    if content_type:
        lowered = content_type.lower()
        return "html" in lowered or "xml" in lowered and "xhtml" in lowered
    return body.lstrip()[:1] == b"<"


def _clean_link(base: str, href: str) -> str | None:
    try:
        url = urljoin(base, href.strip())
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def _first(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict):
            value = value.get("name") or value.get("@value")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _names(value: Any) -> list[str]:
    """Author names from a JSON-LD author: an object, a list of them, or a string."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"\s*(?:;|,| and | и )\s*", value) if part.strip()]
    if isinstance(value, dict):
        name = value.get("name")
        return _names(name) if isinstance(name, str | list) else []
    if isinstance(value, list):
        return [name for item in value for name in _names(item)]
    return []


def _articles(json_ld: list[Any]) -> list[dict[str, Any]]:
    """JSON-LD objects that describe the page (articles, news, web pages), @graph included."""
    found: list[dict[str, Any]] = []
    stack = list(json_ld)
    while stack:
        item = stack.pop(0)
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if "@graph" in item:
                stack.extend(item["@graph"] if isinstance(item["@graph"], list) else [item["@graph"]])
            kinds = item.get("@type")
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if any(isinstance(k, str) and ("Article" in k or k in {"WebPage", "BlogPosting", "Report"})
                   for k in kinds):
                found.append(item)
    found.sort(key=lambda obj: 0 if "Article" in str(obj.get("@type")) else 1)
    return found


def _og(opengraph: list[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for block in opengraph:
        if isinstance(block, dict):
            for key, value in block.items():
                if isinstance(value, str):
                    out.setdefault(key, value)
    return out


def _structured(tree: Any, text: str, url: str) -> dict[str, Any]:
    import extruct

    try:
        return extruct.extract(tree, base_url=url, syntaxes=["json-ld", "opengraph", "microdata"], uniform=True,
                               errors="ignore")
    except Exception as exc:  # extruct raises many kinds on broken markup; structured data is optional
        logger.debug("structured data unreadable on %s: %s", url, exc)
        return {}


def _main_text(tree: Any, url: str) -> tuple[str | None, dict[str, Any]]:
    """trafilatura's main text and its metadata (fast mode: no fallback extractors).

    Dates come from markup only (meta tags, <time>, the URL): htmldate's free-text search costs more than
    the rest of the extraction together and guesses from any date printed on the page.
    """
    import trafilatura
    from trafilatura.settings import set_date_params

    try:
        document = trafilatura.bare_extraction(tree, url=url, fast=True, include_comments=False,
                                               include_tables=False, with_metadata=True, as_dict=False,
                                               date_extraction_params=set_date_params(extensive=False))
    except Exception as exc:  # trafilatura's failure on odd markup must not lose the capture's other fields
        logger.debug("no main text on %s: %s", url, exc)
        return None, {}
    if document is None:
        return None, {}
    data = document.as_dict() if hasattr(document, "as_dict") else dict(document)
    return (data.get("text") or None), data


def _parse(text: str) -> Any:
    try:
        return lxml.html.document_fromstring(text[:_MAX_TEXT_INPUT].replace("\x00", ""))
    except (etree.ParserError, ValueError):
        return None


def _outlinks(tree: Any, base: str) -> list[str]:
    """Absolute http(s) links of a page's <a href>, once each, in document order, without fragments."""
    links: dict[str, None] = {}
    for href in tree.xpath("//a/@href"):
        link = _clean_link(base, href)
        if link:
            links[link] = None
    return list(links)


def page_links(body: bytes, url: str, content_type: str | None) -> list[str]:
    """Only the links of a page, as extract_page_metadata finds them: the crawl's fast pass for --depth."""
    if not body or not _is_html(content_type, body):
        return []
    tree = _parse(decode_html(body, content_type)[0])
    if tree is None:
        return []
    return _outlinks(tree, _first(tree.xpath("//base/@href")) or url)


def extract_page_metadata(body: bytes, url: str, content_type: str | None) -> PageMetadata:
    """All metadata of a page; non-HTML content gives only the charset."""
    text, charset, source = decode_html(body, content_type)
    meta = PageMetadata(charset=charset, charset_source=source)
    if not body or not _is_html(content_type, body):
        return meta
    tree = _parse(text)
    if tree is None:
        return meta
    base = _first(tree.xpath("//base/@href")) or url
    meta.outlinks = _outlinks(tree, base)
    meta.title = _first([" ".join(t.split()) for t in tree.xpath("//title/text()")])
    meta.language = _first(tree.xpath("/html/@lang"), tree.xpath("//meta[@http-equiv='content-language']/@content"))
    canonical = _first(tree.xpath("//link[translate(@rel,'CANONICAL','canonical')='canonical']/@href"))
    meta.canonical_url = _clean_link(base, canonical) if canonical else None
    meta.description = _first(tree.xpath("//meta[@name='description']/@content"))
    meta.structured = _structured(tree, text, url)
    articles = _articles(meta.structured.get("json-ld", []))
    og = _og(meta.structured.get("opengraph", []))
    article = articles[0] if articles else {}
    meta.authors = list(dict.fromkeys(_names(article.get("author"))))
    meta.published = _first(article.get("datePublished"), og.get("article:published_time"))
    meta.modified = _first(article.get("dateModified"), og.get("article:modified_time"))
    publisher = article.get("publisher")
    meta.site_name = _first(og.get("og:site_name"), publisher if isinstance(publisher, dict) else None)
    meta.title = meta.title or _first(og.get("og:title"), article.get("headline"))
    meta.description = meta.description or _first(og.get("og:description"), article.get("description"))
    meta.text, extracted = _main_text(tree, url)
    meta.authors = meta.authors or _names(extracted.get("author") or "")
    meta.published = meta.published or _first(extracted.get("date"))
    meta.site_name = meta.site_name or _first(extracted.get("sitename"))
    meta.language = meta.language or _first(extracted.get("language"))
    meta.description = meta.description or _first(extracted.get("description"))
    return meta


def text_sha256(text: str) -> str:
    """The fingerprint of a page's main text kept with each capture; a check compares a live page by it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

