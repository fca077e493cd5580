"""Reading lists of URLs from files archivists already have: text, CSV, RSS/Atom feeds and sitemaps.

Every format is read as a stream, so a file of millions of lines or items takes no more memory than a short
one. A row that cannot be read is refused alone. Feeds that are not well-formed XML (a bare '&' in a title)
are read in libxml2's recovering mode, which keeps their links.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from archive.errors import UsageError
from archive.sources import SourceEntry


class ImportFormatError(UsageError):
    """The file cannot be read as any supported format; one line for the user."""


_TAG_COLUMNS = {"tag", "tags"}
_CHUNK = 1024 * 1024
_SNIFF = 4096


def read_entries(path: Path) -> tuple[str, Iterator[SourceEntry]]:
    """The format found and the URL entries of a file (with line numbers), read lazily."""
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF)
    except FileNotFoundError:
        raise ImportFormatError(f"no such file: {path}") from None
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc.strerror or exc}") from None
    if b"\x00" in head:
        raise ImportFormatError(f"{path} is a binary file, not a list of URLs")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        return _read_xml(path)
    encoding = _text_encoding(path)
    with path.open(encoding=encoding, newline="") as f:
        first = next((line for line in f if line.strip() and not line.lstrip().startswith("#")), "")
    if _csv_header(first) is not None:
        return "csv", _read_csv(path, encoding)
    return "text", _read_text(path, encoding)


def _text_encoding(path: Path) -> str:
    """UTF-8 (with or without a BOM) when the whole file decodes as such, else Latin-1; read in chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8-sig"


def _read_text(path: Path, encoding: str) -> Iterator[SourceEntry]:
    with path.open(encoding=encoding, newline="") as f:
        for number, line in enumerate(f, start=1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                yield SourceEntry(stripped, number)


def _csv_header(line: str) -> str | None:
    """The delimiter when the line is a CSV header with a 'url' column."""
    for delimiter in (",", ";", "\t"):
        names = [name.strip().strip('"').lower() for name in line.split(delimiter)]
        if len(names) > 1 and "url" in names:
            return delimiter
        if names == ["url"]:
            return ","
    return None


def _read_csv(path: Path, encoding: str) -> Iterator[SourceEntry]:
    """Rows with a 'url' column; a row the csv module cannot read is refused alone, the rest go on."""
    with path.open(encoding=encoding, newline="") as f:
        skipped = 0
        for header in f:
            if header.strip() and not header.lstrip().startswith("#"):
                break
            skipped += 1
        reader = csv.reader(itertools.chain([header], f), delimiter=_csv_header(header) or ",")
        names = [name.strip().lower() for name in next(reader)]
        yield from _csv_rows(reader, names, skipped)


def _csv_rows(reader: Any, names: list[str], skipped: int) -> Iterator[SourceEntry]:
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield SourceEntry("", skipped + reader.line_num, problem=f"unreadable CSV row: {exc}")
            continue
        row = dict(zip(names, values, strict=False))
        url = (row.get("url") or "").strip()
        if not url and not any(value.strip() for value in values):
            continue
        yield SourceEntry(url, skipped + reader.line_num, tuple(_row_tags(row)))


def _row_tags(row: dict[str, str]) -> Iterator[str]:
    """Other columns become tags: 'column:value', or plain tags from a 'tags' column."""
    for name, value in row.items():
        if name == "url" or not value.strip():
            continue
        if name in _TAG_COLUMNS:
            yield from (tag.strip() for tag in re.split(r"[;|,]", value) if tag.strip())
        else:
            yield f"{name}:{value.strip()}"


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _root_name(path: Path) -> str:
    """The local name of the document's root element, or ImportFormatError when there is none."""
    try:
        for _event, element in etree.iterparse(str(path), events=("start",), resolve_entities=False,
                                               no_network=True, huge_tree=False):
            return _local(element.tag)
    except (etree.XMLSyntaxError, OSError) as exc:  # OSError: bytes its encoding cannot read
        raise ImportFormatError(f"{path} is not well-formed XML: {exc}") from None
    raise ImportFormatError(f"{path} is not well-formed XML: no root element")


def _read_xml(path: Path) -> tuple[str, Iterator[SourceEntry]]:
    kind = _root_name(path)
    if kind == "urlset":
        _well_formed(path)
        return "sitemap", _read_sitemap(path)
    if kind == "sitemapindex":
        raise ImportFormatError(f"{path} is a sitemap index: import the sitemaps it lists, one by one")
    if kind in {"rss", "RDF", "feed"}:
        return _read_feed(path, kind)
    raise ImportFormatError(f"{path}: XML root <{kind}> is neither a sitemap nor an RSS/Atom feed")


def _events(source: str | IO[bytes], **options: bool) -> Iterator[tuple[str, etree._Element]]:
    return etree.iterparse(source, events=("end",), resolve_entities=False, no_network=True, huge_tree=False,
                           **options)


def _well_formed(path: Path) -> None:
    """A first streaming pass, so a sitemap cut off half way adds nothing rather than half."""
    try:
        for _event, element in _events(str(path)):
            element.clear(keep_tail=False)
    except (etree.XMLSyntaxError, OSError) as exc:  # OSError: bytes its encoding cannot read
        raise ImportFormatError(f"{path} is not well-formed XML: {exc}") from None


def _read_sitemap(path: Path) -> Iterator[SourceEntry]:
    """Each <url><loc>, read as a stream; elements are dropped once read."""
    for _event, element in _events(str(path)):
        if _local(element.tag) == "loc" and _local(element.getparent().tag) == "url":
            yield SourceEntry((element.text or "").strip(), element.sourceline)
        elif _local(element.tag) == "url":
            element.clear(keep_tail=False)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]


def _read_feed(path: Path, kind: str) -> tuple[str, Iterator[SourceEntry]]:
    """RSS or Atom items' links, with line numbers."""
    return ("atom" if kind == "feed" else "rss"), _feed_file(path)


def _feed_file(path: Path) -> Iterator[SourceEntry]:
    with path.open("rb") as raw:
        yield from read_feed_stream(raw)


# An '&' that starts no entity or character reference: the commonest way a feed is not well-formed.
_BARE_AMPERSAND = re.compile(rb"&(?!(?:[A-Za-z_][\w.-]{0,31}|#[0-9]{1,8}|#x[0-9A-Fa-f]{1,8});)")


class _EscapedAmpersands:
    """A binary stream with bare '&' escaped as '&amp;' on the way: libxml2 recovers from a bare '&' itself, but
    keeps every error it meets (300 MB for a feed of 300k titles with one), so they are mended before parsing."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.held, self.ready = raw, b"", b""

    def read(self, size: int = -1) -> bytes:
        while len(self.ready) < max(size, 1):
            chunk = self.raw.read(_CHUNK)
            data = self.held + chunk
            cut = data.rfind(b"&", max(0, len(data) - 48)) if chunk else -1  # an '&' near the end waits for more
            data, self.held = (data[:cut], data[cut:]) if cut >= 0 else (data, b"")
            self.ready += _BARE_AMPERSAND.sub(b"&amp;", data)
            if not chunk:
                break
        size = len(self.ready) if size < 0 else size
        out, self.ready = self.ready[:size], self.ready[size:]
        return out


_ITEMS = {"item", "entry"}


def read_feed_stream(source: IO[bytes]) -> Iterator[SourceEntry]:
    """Each RSS item's link (else its permalink guid) and each Atom entry's alternate link, read as a stream in
    libxml2's recovering mode: a feed that is not well-formed (a bare '&') keeps its links, and a feed of a
    million items takes no more memory than a short one (items are dropped once read, bare '&' mended first)."""
    for _event, element in _events(_EscapedAmpersands(source), recover=True):
        if _local(element.tag) not in _ITEMS:
            continue
        url = _atom_link(element) if _local(element.tag) == "entry" else _rss_link(element)
        yield SourceEntry(url, element.sourceline)
        element.clear(keep_tail=False)
        parent = element.getparent()
        while parent is not None and element.getprevious() is not None:
            del parent[0]


def _rss_link(item: etree._Element) -> str:
    link = next((el for el in item if _local(el.tag) == "link"), None)
    guid = next((el for el in item if _local(el.tag) == "guid" and el.get("isPermaLink") != "false"), None)
    chosen = link if link is not None and (link.text or "").strip() else guid
    return ((chosen.text if chosen is not None else "") or "").strip()


def _atom_link(entry: etree._Element) -> str:
    links = [el for el in entry if _local(el.tag) == "link"]
    best = next((el for el in links if el.get("rel", "alternate") == "alternate"), None)
    return (best.get("href", "") if best is not None else "").strip()
