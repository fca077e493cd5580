"""Reading lists of URLs from files archivists already have: text, CSV, RSS/Atom feeds and sitemaps."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from archive.sources import SourceEntry


class ImportFormatError(Exception):
    """The file cannot be read as any supported format; one line for the user."""


_TAG_COLUMNS = {"tag", "tags"}


def read_entries(path: Path) -> tuple[str, list[SourceEntry]]:
    """The format found and the URL entries of a file (with line numbers)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportFormatError(f"no such file: {path}") from None
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc.strerror or exc}") from None
    if b"\x00" in raw[:4096]:
        raise ImportFormatError(f"{path} is a binary file, not a list of URLs")
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return _read_xml(raw, path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    first = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    if _csv_header(first) is not None:
        return "csv", list(_read_csv(text))
    return "text", list(_read_text(text))


def _read_text(text: str) -> Iterator[SourceEntry]:
    for number, line in enumerate(text.splitlines(), start=1):
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


def _read_csv(text: str) -> Iterator[SourceEntry]:
    """Rows with a 'url' column; a row the csv module cannot read is refused alone, the rest go on."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#"))
    delimiter = _csv_header(lines[start]) or ","
    reader = csv.reader(io.StringIO("".join(lines[start:])), delimiter=delimiter)
    names = [name.strip().lower() for name in next(reader)]
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield SourceEntry("", start + reader.line_num, problem=f"unreadable CSV row: {exc}")
            continue
        row = dict(zip(names, values, strict=False))
        url = (row.get("url") or "").strip()
        if not url and not any(value.strip() for value in values):
            continue
        yield SourceEntry(url, start + reader.line_num, tuple(_row_tags(row)))


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


def _read_xml(raw: bytes, path: Path) -> tuple[str, list[SourceEntry]]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False, huge_tree=False)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise ImportFormatError(f"{path} is not well-formed XML: {exc}") from None
    kind = _local(root.tag)
    if kind == "urlset":
        locs = [el for el in root.iter() if _local(el.tag) == "loc" and _local(el.getparent().tag) == "url"]
        return "sitemap", [SourceEntry((el.text or "").strip(), el.sourceline) for el in locs]
    if kind == "sitemapindex":
        raise ImportFormatError(f"{path} is a sitemap index: import the sitemaps it lists, one by one")
    if kind in {"rss", "RDF"}:
        items = [el for el in root.iter() if _local(el.tag) == "item"]
        entries = []
        for item in items:
            link = next((el for el in item if _local(el.tag) == "link"), None)
            guid = next((el for el in item if _local(el.tag) == "guid" and el.get("isPermaLink") != "false"), None)
            chosen = link if link is not None and (link.text or "").strip() else guid
            entries.append(SourceEntry(((chosen.text if chosen is not None else "") or "").strip(), item.sourceline))
        return "rss", entries
    if kind == "feed":
        entries = []
        for entry in (el for el in root if _local(el.tag) == "entry"):
            links = [el for el in entry if _local(el.tag) == "link"]
            best = next((el for el in links if el.get("rel", "alternate") == "alternate"), None)
            entries.append(SourceEntry((best.get("href", "") if best is not None else "").strip(), entry.sourceline))
        return "atom", entries
    raise ImportFormatError(f"{path}: XML root <{kind}> is neither a sitemap nor an RSS/Atom feed")
