"""Replaying a capture as its Memento: the archived status, headers and body, the body streamed from storage.

Only the bytes served are read (a Range of two bytes of a 300 MB video reads its first block, not the
record), except a body the client cannot take in its stored Content-Encoding, which is decoded whole.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urljoin, urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from archive.api.access import Caller, readable, readable_capture, workspace_of
from archive.api.encoding import accepts, negotiate_encoding
from archive.api.memento import header_url, timegate_url, timemap_url
from archive.db import session_scope
from archive.models import Capture, Collection, Requisite
from archive.storage import StorageError
from archive.urls import InvalidURL, normalize_url, without_userinfo
from archive.warc import ArchivedRecord, RecordBody, WarcError, open_record, read_record
from archive.workspace import Workspace

logger = logging.getLogger("lastseen.api")

_ORIGINAL_STATUS = "X-Archive-Orig-Status"
# A Memento opened in a browser runs nothing and loads nothing: its images and scripts would come from the live
# site (people read archived pages in ReplayWeb.page, archive.api.archived); inline styles keep it legible.
MEMENTO_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class _Copy:
    """One archived copy to answer: where its record (and, for a revisit, its own) lies, and what it is of."""

    where: tuple[str, int, int]
    own: tuple[str, int, int] | None
    original: str
    captured_at: datetime
    content_type: str | None
    fallback: str


def replay(capture_id: int, request: Request, who: Caller) -> Response:
    """A capture as its Memento: the archived status, body and content headers, marked as archived."""
    ws = workspace_of(request)
    with session_scope(ws.sessions) as session:
        capture = readable_capture(session, who, capture_id)
        holder = capture if capture.record_type != "revisit" else _revisit_original(session, capture)
        if holder is None:
            raise HTTPException(404, f"capture {capture_id} is a revisit of a capture that is not in the archive")
        copy = _copy(capture, holder, capture.source.normalized_url)
    return _answer(ws, copy, request)


def replay_requisite(requisite_id: int, request: Request, who: Caller) -> Response:
    """A page requisite's copy (an image, a stylesheet...) as its Memento, as a capture is answered."""
    ws = workspace_of(request)
    with session_scope(ws.sessions) as session:
        requisite = session.get(Requisite, requisite_id)
        collection = session.get(Collection, requisite.collection_id) if requisite is not None else None
        if requisite is None or collection is None:
            raise HTTPException(404, f"no requisite {requisite_id}")
        readable(who, collection)
        holder = requisite if requisite.record_type != "revisit" else session.scalar(
            select(Requisite).where(Requisite.collection_id == requisite.collection_id,
                                    Requisite.url_hash == requisite.url_hash,
                                    Requisite.payload_digest == requisite.payload_digest,
                                    Requisite.record_type == "response",
                                    Requisite.captured_at <= requisite.captured_at)
            .order_by(Requisite.captured_at.desc()).limit(1))
        if holder is None:
            raise HTTPException(404, f"requisite {requisite_id} is a revisit of a copy that is not in the archive")
        copy = _copy(requisite, holder, requisite.url)
    return _answer(ws, copy, request)


def _copy(row: Capture | Requisite, holder: Capture | Requisite, fallback: str) -> _Copy:
    """What answering a row needs, read while its session is open."""
    own = (row.warc_uri, row.warc_offset, row.warc_length) if holder is not row else None
    return _Copy(where=(holder.warc_uri, holder.warc_offset, holder.warc_length), own=own, original=row.url,
                 captured_at=row.captured_at, content_type=holder.content_type, fallback=fallback)


def _answer(ws: Workspace, copy: _Copy, request: Request) -> Response:
    """The archived status, headers and body of a copy, marked as a Memento."""
    where, own, original, captured_at = copy.where, copy.own, copy.original, copy.captured_at
    content_type, fallback = copy.content_type, copy.fallback
    record, body = _open_archived(ws, *where)
    answered = _read_archived(ws, *own) if own else record  # a revisit keeps its own status and headers
    if answered.http_status is None:
        answered = record
    base = str(request.base_url).rstrip("/")
    shown = _shown(original)
    uri_r = _normalized_or(original, fallback)
    headers = {
        "Content-Type": _latin1(answered.header("Content-Type")) or content_type or "application/octet-stream",
        "Memento-Datetime": format_datetime(captured_at.astimezone(UTC), usegmt=True),
        "Link": f'<{header_url(shown)}>; rel="original", <{timegate_url(base, uri_r)}>; '
                f'rel="timegate", <{timemap_url(base, uri_r)}>; rel="timemap"; '
                'type="application/link-format"',
        "Content-Security-Policy": MEMENTO_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=86400",
        "Referrer-Policy": "no-referrer",
    }
    status = answered.http_status if answered.http_status and 200 <= answered.http_status <= 599 else 200
    if answered.http_status is not None:
        headers[_ORIGINAL_STATUS] = str(answered.http_status)
    location = _latin1(answered.header("Location"))
    if 300 <= status < 400 and location:
        target = urljoin(original, location.strip())
        if urlsplit(target).scheme in {"http", "https"}:
            headers["Location"] = timegate_url(base, _shown(target))
    encoding = _latin1(record.header("Content-Encoding"))
    if encoding and encoding.strip().lower() != "identity":
        headers["Vary"] = "Accept-Encoding"
        if not all(accepts(request.headers.get("accept-encoding"), coding.strip().lower())
                   for coding in encoding.split(",") if coding.strip() and coding.strip().lower() != "identity"):
            return _decoded(body, encoding, status, headers, request)
        headers["Content-Encoding"] = encoding
    if status in (204, 304):
        body = RecordBody(0, None)
    if request.method == "HEAD":
        headers["Content-Length"] = str(body.size)
        return Response(status_code=status, headers=headers)
    if status == 200:
        return _ranged(body, headers, request.headers.get("range"))
    return _streamed(body, status, headers)


def _decoded(body: RecordBody, encoding: str, status: int, headers: dict[str, str], request: Request) -> Response:
    """A body the client cannot take as stored: read whole and decoded (pages, not videos, are encoded)."""
    data, sent = negotiate_encoding(_whole(body), encoding, request.headers.get("accept-encoding"))
    if sent:
        headers["Content-Encoding"] = sent
    if status in (204, 304):
        data = b""
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(data))
        return Response(status_code=status, headers=headers)
    if status == 200:
        return _ranged(RecordBody(len(data), io.BytesIO(data)), headers, request.headers.get("range"))
    return Response(content=data, status_code=status, headers=headers)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte a single-range `Range: bytes=...` header asks for; None to serve the whole body
    (no header, another unit, several ranges: RFC 9110 lets a server ignore those). ValueError: unsatisfiable."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash or not (first_text + last_text).isdigit():
        return None
    if not first_text:  # the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise ValueError("empty suffix range")
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or (last_text and int(last_text) < first):
        raise ValueError("range outside the body")
    return first, last


def _ranged(body: RecordBody, headers: dict[str, str], range_header: str | None) -> Response:
    """The body, or the part a Range header asks for (206; 416 when no part of it exists), streamed from
    storage: only the bytes up to the last one served are read."""
    headers["Accept-Ranges"] = "bytes"
    try:
        wanted = byte_range(range_header, body.size)
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{body.size}"})
    if wanted is None:
        return _streamed(body, 200, headers)
    first, last = wanted
    headers["Content-Range"] = f"bytes {first}-{last}/{body.size}"
    headers["Content-Length"] = str(last - first + 1)
    return StreamingResponse(_logged(body.chunks(first, last)), status_code=206, headers=headers)


def _streamed(body: RecordBody, status: int, headers: dict[str, str]) -> Response:
    headers["Content-Length"] = str(body.size)
    return StreamingResponse(_logged(body.chunks()), status_code=status, headers=headers)


def _logged(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The body's blocks; a record found damaged mid-body ends the response (its headers are already sent)."""
    try:
        yield from chunks
    except (StorageError, WarcError) as exc:
        logger.error("the archived body could not be read to its end: %s", exc)


def _latin1(value: str | None) -> str | None:
    """A header value that can be sent as is, or None."""
    if value is None:
        return None
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return value


def _revisit_original(session: Session, revisit: Capture) -> Capture | None:
    """The earlier capture holding a revisit's body: same payload digest; the same URL, then the same source
    preferred (empty bodies of different redirects share a digest)."""
    if not revisit.payload_digest:
        return None
    return session.scalar(
        select(Capture).where(Capture.payload_digest == revisit.payload_digest, Capture.record_type == "response",
                              Capture.captured_at <= revisit.captured_at)
        .order_by(case((Capture.url == revisit.url, 0), else_=1), case((Capture.source_id == revisit.source_id, 0),
                                                                        else_=1), Capture.captured_at.desc())
        .limit(1))


def _shown(url: str) -> str:
    """A URL as the API shows it: never with userinfo."""
    try:
        return without_userinfo(url)
    except InvalidURL:
        return url


def _normalized_or(url: str, fallback: str) -> str:
    """The normalized form of a URL (its TimeMap's URL-R), or the fallback when it has none."""
    try:
        return normalize_url(url)
    except InvalidURL:
        return fallback


def _read_archived(ws: Workspace, uri: str, offset: int, length: int) -> ArchivedRecord:
    """One record by one ranged read of its WARC file (a revisit's: headers only)."""
    try:
        return read_record(ws.storage.read(ws.storage.key_of(uri), offset, length))
    except StorageError as exc:
        raise _unavailable(uri, offset, length, exc) from None
    except WarcError as exc:
        raise _unreadable(uri, offset, length, exc) from None


def _open_archived(ws: Workspace, uri: str, offset: int, length: int) -> tuple[ArchivedRecord, RecordBody]:
    """One record's headers, and its body to be streamed by ranged reads of its WARC file."""
    try:
        key = ws.storage.key_of(uri)
        return open_record(lambda at, size: ws.storage.read(key, at, size), offset, length)
    except StorageError as exc:
        raise _unavailable(uri, offset, length, exc) from None
    except WarcError as exc:
        raise _unreadable(uri, offset, length, exc) from None


def _whole(body: RecordBody) -> bytes:
    try:
        return body.read()
    except StorageError as exc:
        raise HTTPException(503, f"the archived copy cannot be read from storage now: {exc}") from None
    except WarcError as exc:
        raise HTTPException(500, f"the archived record is unreadable: {exc}") from None


def _unavailable(uri: str, offset: int, length: int, exc: StorageError) -> HTTPException:
    logger.error("cannot read %s @%d+%d: %s", uri, offset, length, exc)
    return HTTPException(503, f"the archived copy cannot be read from storage now: {exc}")


def _unreadable(uri: str, offset: int, length: int, exc: WarcError) -> HTTPException:
    logger.error("unreadable record in %s @%d+%d: %s", uri, offset, length, exc)
    return HTTPException(500, f"the archived record is unreadable: {exc}")
