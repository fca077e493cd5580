"""What replaying one capture needs, packed as a small WACZ that ReplayWeb.page reads by ranges.

A capture's page is replayed from: its own record (and, for a revisit, the earlier record holding its body), the
copies of what it needs (requisites, found again in its HTML and stylesheets as the crawl found them, and the
ones the crawl filed under its source around that time), each the copy nearest the page's time, with the body a
revisit refers to; and its video's media record. The records are copied as stored (each WARC record is its own
gzip member) into one WARC file, packed by archive.export.write_wacz, and kept under the data folder (replay/):
built once per capture, again when its collection gains requisites or its video's media arrives.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from archive.export import write_wacz
from archive.extract.requisites import css_requisites, html_requisites
from archive.extract.videos import find_videos
from archive.models import Capture, Requisite, Video
from archive.timefmt import iso
from archive.urls import url_key
from archive.warc import WarcError, decoded_body, read_record
from archive.workspace import Workspace

_CSS_DEPTH = 5  # stylesheets importing stylesheets, as deep as the crawl follows them
_MAX_PARSED = 4 * 1024 * 1024  # a page or stylesheet larger than this is replayed, not read for what it names
_CRAWL_WINDOW = timedelta(hours=1)  # a source's requisites this long after its page are that crawl's
_HTML = ("text/html", "application/xhtml+xml")
_CSS = "text/css"


@dataclass(frozen=True)
class Held:
    """Where one record lies in storage."""

    uri: str
    offset: int
    length: int


@dataclass(frozen=True)
class ReplaySet:
    """The records a capture's replay reads, and what names the page in them."""

    capture_id: int
    url: str
    captured_at: datetime
    title: str
    records: tuple[Held, ...]


def replay_set(ws: Workspace, session: Session, capture: Capture) -> ReplaySet:
    """The records that replay a capture: the page's, its requisites' and its media's."""
    held: dict[Held, None] = {}
    page = capture if capture.record_type != "revisit" else _original_capture(session, capture) or capture
    for row in dict.fromkeys((capture, page)):
        held[_held(row)] = None
    needed = _needed_urls(ws, session, capture, page)
    for row in _requisite_copies(session, capture, needed):
        held[_held(row)] = None
    for media in _media(ws, session, capture, page):
        held[_held(media)] = None
    title = (capture.page_meta or {}).get("title") or capture.url
    return ReplaySet(capture.id, capture.url, capture.captured_at, str(title), tuple(held))


def wacz_name(session: Session, capture: Capture) -> str:
    """The file name of a capture's WACZ: a new one once its collection gains requisites or its video media."""
    newest = session.scalar(select(func.max(Requisite.id)).where(
        Requisite.collection_id == capture.source.collection_id)) or 0
    media = session.scalar(select(Video.media_capture_id).where(Video.source_id == capture.source_id)) or 0
    return f"capture-{capture.id}-{newest}-{media}.wacz"


def capture_wacz(ws: Workspace, session: Session, capture: Capture) -> Path:
    """The WACZ that replays a capture, built now unless it already is (kept under the data folder)."""
    folder = ws.settings.data_dir / "replay"
    target = folder / wacz_name(session, capture)
    if target.exists():
        return target
    found = replay_set(ws, session, capture)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as work:
        warc = Path(work) / f"capture-{found.capture_id}.warc.gz"
        with warc.open("wb") as out:
            for record in found.records:
                out.write(ws.storage.read(ws.storage.key_of(record.uri), record.offset, record.length))
        built = Path(work) / target.name
        page = {"url": found.url, "ts": iso(found.captured_at), "title": found.title}
        write_wacz([warc], built, title=f"lastseen capture {found.capture_id}", pages=[page])
        built.replace(target)
    for older in folder.glob(f"capture-{capture.id}-*.wacz"):  # what it replaced: built before more arrived
        if older != target:
            older.unlink(missing_ok=True)
    return target


def _held(row: Capture | Requisite) -> Held:
    return Held(row.warc_uri, row.warc_offset, row.warc_length)


def _original_capture(session: Session, revisit: Capture) -> Capture | None:
    """The earlier capture holding a revisit's body: same payload digest, the same URL preferred."""
    if not revisit.payload_digest:
        return None
    return session.scalar(
        select(Capture).where(Capture.payload_digest == revisit.payload_digest, Capture.record_type == "response",
                              Capture.captured_at <= revisit.captured_at)
        .order_by(case((Capture.url == revisit.url, 0), else_=1), Capture.captured_at.desc()).limit(1))


def _media(ws: Workspace, session: Session, capture: Capture, page: Capture) -> list[Capture]:
    """The video media the page plays: its own source's kept media, and the copy nearest the page's time of each
    video it embeds by URL (a `<video src>` kept as a source of its own)."""
    found = []
    own = session.scalar(select(Video.media_capture_id).where(Video.source_id == capture.source_id))
    body = _body(ws, page) if (page.content_type or "").lower().startswith(_HTML) else None
    keys = sorted({url_key(video.canonical_url) for video in find_videos(body, capture.url)}) if body else []
    for key in keys:
        media = session.scalar(select(Capture).where(
            Capture.url_hash == key, Capture.record_type == "response",
            Capture.captured_at <= capture.captured_at + _CRAWL_WINDOW).order_by(Capture.captured_at.desc()).limit(1))
        if media is not None:
            found.append(media)
    if own:
        found.append(session.get(Capture, own))
    return [media for media in found if media is not None]


def _needed_urls(ws: Workspace, session: Session, capture: Capture, page: Capture) -> set[str]:
    """What the page names (its HTML, its frames' HTML, its stylesheets and theirs), found as the crawl found it."""
    body = _body(ws, page)
    if body is None or not (page.content_type or "").lower().startswith(_HTML):
        return set()
    found = html_requisites(body, capture.url, page.content_type)
    wanted = {requisite.url for requisite in found}
    frames = [requisite.url for requisite in found if requisite.kind == "frame"]
    sheets = [requisite.url for requisite in found if requisite.kind in ("stylesheet", "import")]
    for frame in _copies(session, capture, frames):
        frame_body = _body(ws, frame) if (frame.content_type or "").lower().startswith(_HTML) else None
        if frame_body is not None:
            inner = html_requisites(frame_body, frame.url, frame.content_type, frames=False)
            wanted.update(requisite.url for requisite in inner)
            sheets += [requisite.url for requisite in inner if requisite.kind in ("stylesheet", "import")]
    read: set[str] = set()
    for _ in range(_CSS_DEPTH):
        copies = [row for row in _copies(session, capture, [url for url in sheets if url not in read])
                  if (row.content_type or _CSS).lower().startswith(_CSS)]
        read.update(sheets)
        sheets = []
        for sheet in copies:
            css = _body(ws, sheet)
            if css is not None:
                named = css_requisites(css, sheet.url)
                wanted.update(requisite.url for requisite in named)
                sheets += [requisite.url for requisite in named if requisite.kind == "import"]
    return wanted


def _body(ws: Workspace, row: Capture | Requisite) -> bytes | None:
    """A record's body as a browser reads it, when small enough to parse and readable."""
    if row.size > _MAX_PARSED or row.record_type != "response":
        return None
    try:
        return decoded_body(read_record(ws.storage.read(ws.storage.key_of(row.warc_uri), row.warc_offset,
                                                        row.warc_length)))
    except (WarcError, OSError, ValueError):
        return None


def _copies(session: Session, capture: Capture, urls: Iterable[str]) -> list[Requisite]:
    """The copy of each URL nearest the page's time in its collection: the last before it (or in its crawl),
    else the first after."""
    keys = sorted({url_key(url) for url in urls})
    if not keys:
        return []
    collection_id = capture.source.collection_id
    until = capture.captured_at + _CRAWL_WINDOW
    nearest: dict[str, Requisite] = {}
    for start in range(0, len(keys), 500):
        rows = session.scalars(select(Requisite).where(Requisite.collection_id == collection_id,
                                                       Requisite.url_hash.in_(keys[start:start + 500]))
                               .order_by(Requisite.captured_at))
        for row in rows:  # oldest first: the last copy up to the crawl's end wins, else the first after it
            if row.captured_at <= until:
                nearest[row.url_hash] = row
            else:
                nearest.setdefault(row.url_hash, row)
    return list(nearest.values())


def _requisite_copies(session: Session, capture: Capture, urls: set[str]) -> list[Requisite]:
    """The copies the page needs: those of the URLs it names, those its crawl filed under its source, and for
    each revisit the copy holding its body."""
    chosen = {row.id: row for row in _copies(session, capture, urls)}
    crawl = session.scalars(select(Requisite).where(
        Requisite.page_source_id == capture.source_id, Requisite.captured_at >= capture.captured_at - _CRAWL_WINDOW,
        Requisite.captured_at <= capture.captured_at + _CRAWL_WINDOW))
    for row in crawl:
        chosen.setdefault(row.id, row)
    for row in list(chosen.values()):
        if row.record_type == "revisit" and row.payload_digest:
            original = session.scalar(select(Requisite).where(
                Requisite.collection_id == row.collection_id, Requisite.url_hash == row.url_hash,
                Requisite.payload_digest == row.payload_digest, Requisite.record_type == "response",
                Requisite.captured_at <= row.captured_at).order_by(Requisite.captured_at.desc()).limit(1))
            if original is not None:
                chosen.setdefault(original.id, original)
    return sorted(chosen.values(), key=lambda row: (row.captured_at, row.id))
