"""Writing WARC/1.1: a rolling writer of request/response/revisit/metadata/resource records, and their digests.

Each record is its own gzip member, so one capture is read back with one ranged read of
(offset, length). Files are written in a spool folder as `NAME.warc.gz.open`, renamed when closed and
handed with the CDXJ fields noted as records are written (see index.write_index) to `on_close`, which
uploads them off the crawl's thread; a file whose hand-over fails stays in the spool.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

logger = logging.getLogger(__name__)

# Hop-by-hop headers describe the transfer, not the payload we keep (already de-chunked by Twisted).
_TRANSFER_HEADERS = {"transfer-encoding", "content-length"}
METADATA_URI_PREFIX = "urn:lastseen:metadata:"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
SCREENSHOT_URI_PREFIX = "urn:lastseen:screenshot:"


@dataclass(frozen=True)
class WarcRecordInfo:
    """Where a written record sits and what it holds."""

    file_name: str
    offset: int
    length: int
    record_id: str
    record_type: str
    target_uri: str
    date: str
    payload_sha256: str
    payload_digest: str
    block_digest: str
    payload_size: int


@dataclass(frozen=True)
class ExchangeRecords:
    """The request and response (or revisit) records of one fetch."""

    request: WarcRecordInfo
    response: WarcRecordInfo


@dataclass(frozen=True)
class RevisitTarget:
    """The earlier capture a revisit record refers to, when the payload is unchanged."""

    uri: str
    date: str
    payload_digest: str


@dataclass(frozen=True)
class ClosedWarc:
    """A finished WARC file in the spool, ready to be indexed (write_index) and stored."""

    path: Path
    size: int
    records: int
    index: tuple[tuple[str, str, str], ...] = ()  # (target URI, 14-digit time, CDXJ JSON) of each indexed record


@dataclass(frozen=True)
class PreparedRecord:
    """A whole record, gzip member and all, built away from the writer (in another process if need be).

    `info` is complete but for where the record will sit: file_name and offset are set when it is appended.
    """

    data: bytes
    info: WarcRecordInfo
    mime: str | None


@dataclass(frozen=True)
class PreparedFile:
    """A whole record built in a spool file: a media file's payload is too large to hold in memory.

    Built off the writer's lock; appending it copies the file. The appender deletes the file.
    """

    path: Path
    info: WarcRecordInfo
    mime: str | None


def sha1_b32(data: bytes) -> str:
    """The `sha1:BASE32` digest every WARC reader and replay tool expects."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def warc_date(moment: datetime) -> str:
    """WARC/1.1 date with microseconds, always UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _payload_headers(headers: Iterable[tuple[str, str]], body_size: int) -> list[tuple[str, str]]:
    """Response headers that agree with the de-chunked body: no Transfer-Encoding, a true Content-Length."""
    kept = [(name, value) for name, value in headers if name.lower() not in _TRANSFER_HEADERS]
    kept.append(("Content-Length", str(body_size)))
    return kept


class RollingWarcWriter:
    """Writes exchanges into gzip-per-record WARC files that roll over at `max_size`; thread-safe."""

    def __init__(self, spool_dir: Path, *, prefix: str, max_size: int, warcinfo: dict[str, str],
                 on_close: Callable[[ClosedWarc], None], max_age: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spool_dir = Path(spool_dir)
        self.prefix = prefix
        self.max_age = max_age
        self.clock = clock
        self._opened_at = 0.0
        self.max_size = max_size
        self.warcinfo = warcinfo
        self.on_close = on_close
        self._lock = threading.Lock()
        self._serial = 0
        self._fh: BinaryIO | None = None
        self._writer: WARCWriter | None = None
        self._name = ""
        self._records = 0
        self._index: list[tuple[str, str, str]] = []
        self._holds = 0

    def hold(self) -> None:
        """Keep the current file open (no rolling over) until release: a record to come belongs with it."""
        with self._lock:
            self._holds += 1

    def release(self) -> None:
        """End one hold."""
        with self._lock:
            self._holds = max(0, self._holds - 1)

    @property
    def current_file(self) -> str | None:
        """Name of the file being written, if any."""
        return self._name or None

    def _open(self) -> None:
        self._serial += 1
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
        self._name = f"{self.prefix}-{stamp}-{self._serial:05d}-{uuid.uuid4().hex[:8]}.warc.gz"
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._fh = (self.spool_dir / (self._name + ".open")).open("wb")
        self._opened_at = self.clock()
        self._writer = WARCWriter(self._fh, gzip=True, warc_version="1.1")
        info = self._writer.create_warcinfo_record(self._name, self.warcinfo)
        self._writer.write_record(info)
        self._records = 1
        self._index = []

    def _ensure_open(self) -> WARCWriter:
        if self._fh is not None and not self._holds and (self._fh.tell() >= self.max_size or self._too_old()):
            self._close_current()
        if self._writer is None:
            self._open()
        assert self._writer is not None
        return self._writer

    def _write(self, record: Any, body: bytes, sha256: str) -> WarcRecordInfo:
        assert self._fh is not None and self._writer is not None
        offset = self._fh.tell()
        self._writer.write_record(record)
        self._records += 1
        headers = record.rec_headers
        return WarcRecordInfo(
            file_name=self._name, offset=offset, length=self._fh.tell() - offset,
            record_id=headers.get_header("WARC-Record-ID"), record_type=record.rec_type,
            target_uri=headers.get_header("WARC-Target-URI") or "", date=headers.get_header("WARC-Date"),
            payload_sha256=sha256, payload_digest=headers.get_header("WARC-Payload-Digest") or sha1_b32(body),
            block_digest=headers.get_header("WARC-Block-Digest") or "", payload_size=len(body))

    def write_exchange(self, *, url: str, method: str, request_headers: list[tuple[str, str]], http_version: str,
                       status: int, reason: str, response_headers: list[tuple[str, str]], body: bytes,
                       ip_address: str | None, fetched_at: datetime,
                       revisit_of: RevisitTarget | None = None) -> ExchangeRecords:
        """Write the response (or a revisit, if the payload equals `revisit_of`'s) and its request."""
        date = warc_date(fetched_at)
        sha256 = hashlib.sha256(body).hexdigest()
        response_id = _record_id()
        fields = {"WARC-Record-ID": response_id, "WARC-Date": date}
        if ip_address:
            fields["WARC-IP-Address"] = ip_address
        http_headers = StatusAndHeaders(f"{status} {reason}".strip(), _payload_headers(response_headers, len(body)),
                                        protocol=http_version)
        with self._lock:
            writer = self._ensure_open()
            # warcio digests the payload as it builds the record (once per page: it is read back, not recomputed).
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                               http_headers=http_headers, warc_headers_dict=fields)
            digest = record.rec_headers.get_header("WARC-Payload-Digest")
            if revisit_of is not None and revisit_of.payload_digest == digest:
                record = writer.create_revisit_record(url, digest, revisit_of.uri, revisit_of.date,
                                                      http_headers=http_headers, warc_headers_dict=fields)
            response = self._write(record, body, sha256)
            mime = "warc/revisit" if response.record_type == "revisit" else _mime(response_headers)
            self._index_record(response, mime, str(status))
            request_fields = {"WARC-Date": date, "WARC-Concurrent-To": response_id}
            request_line = StatusAndHeaders(f"{method} {_request_target(url)} {http_version}", request_headers,
                                            is_http_request=True)
            request_record = writer.create_warc_record(url, "request", payload=io.BytesIO(b""), length=0,
                                                       http_headers=request_line, warc_headers_dict=request_fields)
            request = self._write(request_record, b"", _EMPTY_SHA256)
        return ExchangeRecords(request=request, response=response)

    def write_metadata(self, *, url: str, concurrent_to: str, fields: dict[str, Any],
                       fetched_at: datetime) -> WarcRecordInfo:
        """A metadata record (JSON) with what was extracted from a page, tied to its response record."""
        return self.append(prepare_metadata(url=url, concurrent_to=concurrent_to, fields=fields,
                                            fetched_at=fetched_at))

    def append(self, record: PreparedRecord) -> WarcRecordInfo:
        """Add a record built elsewhere (a page description worker builds metadata records)."""
        return self.append_all([record])[0]

    def append_all(self, records: Sequence[PreparedRecord | PreparedFile]) -> list[WarcRecordInfo]:
        """Add records built elsewhere one after another in one file (a media file with its metadata)."""
        with self._lock:
            self._ensure_open()
            assert self._fh is not None
            placed = []
            for record in records:
                info = replace(record.info, file_name=self._name, offset=self._fh.tell())
                if isinstance(record, PreparedFile):
                    with record.path.open("rb") as source:
                        shutil.copyfileobj(source, self._fh, 1024 * 1024)
                else:
                    self._fh.write(record.data)
                self._records += 1
                self._index_record(info, record.mime, None)
                placed.append(info)
            return placed

    def read_back(self, info: WarcRecordInfo) -> bytes | None:
        """The bytes of a record this writer wrote, while its file is still in the spool (else None).

        A browser rendering from the archive reads the crawl's own records back through this.
        """
        with self._lock:
            if info.file_name == self._name and self._fh is not None:
                self._fh.flush()
                path = self.spool_dir / (info.file_name + ".open")
            else:
                path = self.spool_dir / info.file_name
        try:
            with path.open("rb") as fh:
                fh.seek(info.offset)
                data = fh.read(info.length)
        except OSError:
            return None
        return data if len(data) == info.length else None

    def _index_record(self, info: WarcRecordInfo, mime: str | None, status: str | None) -> None:
        """Note the record's CDXJ fields; the lines are made off this thread when the file is indexed."""
        fields: dict[str, str] = {"url": info.target_uri}
        if mime:
            fields["mime"] = mime
        if status:
            fields["status"] = status
        fields.update(digest=info.payload_digest, length=str(info.length), offset=str(info.offset),
                      filename=info.file_name)
        stamp = "".join(ch for ch in info.date[:19] if ch.isdigit())
        self._index.append((info.target_uri, stamp, json.dumps(fields)))

    def _too_old(self) -> bool:
        return self.max_age is not None and self.clock() - self._opened_at >= self.max_age

    def roll_if_old(self) -> None:
        """Close the current file if it is older than max_age, so a slow crawl's captures are stored steadily."""
        with self._lock:
            if self._fh is not None and not self._holds and self._too_old():
                self._close_current()

    def close(self) -> None:
        """Finish the current file and hand it over."""
        with self._lock:
            self._close_current()

    def _close_current(self) -> None:
        if self._fh is None:
            return
        fh, name, records = self._fh, self._name, self._records
        self._fh, self._writer, self._name = None, None, ""
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        path = self.spool_dir / name
        (self.spool_dir / (name + ".open")).replace(path)
        closed = ClosedWarc(path=path, size=path.stat().st_size, records=records, index=tuple(self._index))
        self._index = []
        try:
            self.on_close(closed)
        except Exception:
            logger.exception("WARC file %s is kept in the spool: handing it over failed", path)


def metadata_uri(url: str) -> str:
    """The Target-URI of a page's metadata record.

    Not the page's own URL: replay tools index metadata records too, and pywb would then serve our JSON
    instead of the page (a test caught it). The record still points at the page by WARC-Concurrent-To.
    """
    return METADATA_URI_PREFIX + url


def prepare_metadata(*, url: str, concurrent_to: str, fields: dict[str, Any], fetched_at: datetime) -> PreparedRecord:
    """A metadata record holding `fields` as JSON, built into bytes ready to append to any WARC file."""
    data = json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    headers = {"WARC-Date": warc_date(fetched_at), "WARC-Concurrent-To": concurrent_to}
    record = writer.create_warc_record(metadata_uri(url), "metadata", payload=io.BytesIO(data), length=len(data),
                                       warc_content_type="application/json", warc_headers_dict=headers)
    writer.write_record(record)
    member = out.getvalue()
    rec = record.rec_headers
    info = WarcRecordInfo(file_name="", offset=0, length=len(member), record_id=rec.get_header("WARC-Record-ID"),
                          record_type="metadata", target_uri=metadata_uri(url), date=rec.get_header("WARC-Date"),
                          payload_sha256=hashlib.sha256(data).hexdigest(),
                          payload_digest=rec.get_header("WARC-Payload-Digest") or sha1_b32(data),
                          block_digest=rec.get_header("WARC-Block-Digest") or "", payload_size=len(data))
    return PreparedRecord(data=member, info=info, mime="application/json")


def _mime(headers: Iterable[tuple[str, str]]) -> str | None:
    """The media type of a response, without parameters, as CDXJ indexes give it."""
    for name, value in headers:
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip() or None
    return None


def _request_target(url: str) -> str:
    """The path and query as sent on the request line."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"
