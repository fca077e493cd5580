"""Reading WARC records back: one ranged read of a capture, a capture's body streamed, or every record of a file."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator


class WarcError(Exception):
    """A WARC file or record that cannot be written or read."""


@dataclass(frozen=True)
class ArchivedRecord:
    """One record read back: its WARC fields, HTTP status and headers, and the body as received."""

    record_type: str
    target_uri: str
    date: str
    record_id: str
    payload_digest: str | None
    refers_to_uri: str | None
    refers_to_date: str | None
    http_status: int | None
    http_headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The last value of an HTTP header, by case-insensitive name."""
        wanted = name.lower()
        found = None
        for key, value in self.http_headers:
            if key.lower() == wanted:
                found = value
        return found


def read_record(data: bytes) -> ArchivedRecord:
    """Parse one gzip-member record (a ranged read of a capture) and return its body as received."""
    try:
        record = next(iter(ArchiveIterator(io.BytesIO(data), check_digests=False)))
    except StopIteration as exc:
        raise WarcError("no WARC record in the bytes read") from exc
    except Exception as exc:
        raise WarcError(f"unreadable WARC record: {exc}") from exc
    if record.format != "warc" or not record.rec_headers.get_header("WARC-Record-ID"):
        raise WarcError("the bytes read are not a WARC record")
    return _archived(record, record.raw_stream.read())


class _RangedReads:
    """A record's bytes as a sequential stream of ranged reads, a little at first (a header, a Range of two
    bytes), doubling up to 4 MiB as more is wanted (a whole video): never the whole record at once."""

    def __init__(self, read: Callable[[int, int], bytes], offset: int, length: int) -> None:
        self._read, self._next, self._end = read, offset, offset + length
        self._buffer, self._at, self._chunk = b"", 0, 64 * 1024

    def read(self, size: int = -1) -> bytes:
        if self._at >= len(self._buffer):
            if self._next >= self._end:
                return b""
            self._buffer, self._at = self._read(self._next, min(self._chunk, self._end - self._next)), 0
            if not self._buffer:
                raise WarcError("the stored WARC file ends inside the record")
            self._next += len(self._buffer)
            self._chunk = min(self._chunk * 2, 4 * 1024 * 1024)
        size = len(self._buffer) - self._at if size < 0 else size
        data = self._buffer[self._at:self._at + size]
        self._at += len(data)
        return data


@dataclass
class RecordBody:
    """The body of one archived record as it is served: its size, and its bytes read from storage on demand."""

    size: int
    _stream: Any

    def chunks(self, first: int = 0, last: int | None = None) -> Iterator[bytes]:
        """Bytes first..last (inclusive) of the body, a block at a time; the bytes before first are skipped."""
        wanted = (self.size if last is None else last + 1) - first
        try:
            while first > 0:
                skipped = self._stream.read(min(first, 1024 * 1024))
                if not skipped:
                    return
                first -= len(skipped)
            while wanted > 0 and (block := self._stream.read(min(wanted, 1024 * 1024))):
                wanted -= len(block)
                yield block
        except WarcError:
            raise
        except Exception as exc:  # zlib and warcio on a damaged member, mid-body
            raise WarcError(f"unreadable WARC record: {exc}") from exc

    def read(self) -> bytes:
        """The whole body (when it must be decoded before it is served)."""
        return b"".join(self.chunks())


def open_record(read: Callable[[int, int], bytes], offset: int, length: int) -> tuple[ArchivedRecord, RecordBody]:
    """One gzip-member record's headers (its body left empty) and its body, to be streamed from storage.

    read(offset, length) is a ranged read of the WARC file (Storage.read). The body is as received, the same
    bytes `read_record` gives, but read only as far as it is consumed."""
    try:
        iterator = ArchiveIterator(_RangedReads(read, offset, length), check_digests=False)
        record = next(iter(iterator))
    except StopIteration as exc:
        raise WarcError("no WARC record in the bytes read") from exc
    except WarcError:
        raise
    except Exception as exc:
        raise WarcError(f"unreadable WARC record: {exc}") from exc
    if record.format != "warc" or not record.rec_headers.get_header("WARC-Record-ID"):
        raise WarcError("the bytes read are not a WARC record")
    stream = record.raw_stream
    if not isinstance(getattr(stream, "limit", None), int):  # no Content-Length to go by: read it to know its size
        body = stream.read()
        return _archived(record, b""), RecordBody(len(body), io.BytesIO(body))
    return _archived(record, b""), RecordBody(max(stream.limit, 0), stream)


def decoded_body(record: ArchivedRecord) -> bytes:
    """The body with its Content-Encoding (gzip, deflate, br) undone by warcio, as a browser reads it."""
    encoding = (record.header("Content-Encoding") or "").strip().lower()
    if encoding in ("", "identity"):
        return record.body
    from warcio.bufferedreaders import DecompressingBufferedReader

    if encoding == "x-gzip":
        encoding = "gzip"
    if encoding not in DecompressingBufferedReader.DECOMPRESSORS:
        raise WarcError(f"unknown Content-Encoding {encoding!r}")
    try:
        return DecompressingBufferedReader(io.BytesIO(record.body), decomp_type=encoding).read()
    except Exception as exc:  # zlib and brotli raise their own kinds on a broken stream
        raise WarcError(f"undecodable {encoding} body: {exc}") from exc


def iter_records(path: Path) -> Iterable[tuple[int, int, ArchivedRecord]]:
    """Every record of a WARC file with its offset and length (for checks and rebuilding indexes)."""
    with path.open("rb") as fh:
        iterator = ArchiveIterator(fh, check_digests=False)
        for record in iterator:
            body = record.raw_stream.read()
            offset = iterator.get_record_offset()
            iterator.read_to_end(record)
            yield offset, iterator.get_record_length(), _archived(record, body)


def _archived(record: Any, body: bytes) -> ArchivedRecord:
    """An ArchivedRecord from a warcio record and the body already read from it."""
    headers = record.rec_headers
    http = record.http_headers
    status = None
    if http is not None and record.rec_type in ("response", "revisit"):
        code = http.get_statuscode() or ""
        status = int(code) if code.isdigit() else None
    return ArchivedRecord(
        record_type=record.rec_type, target_uri=headers.get_header("WARC-Target-URI") or "",
        date=headers.get_header("WARC-Date") or "", record_id=headers.get_header("WARC-Record-ID") or "",
        payload_digest=headers.get_header("WARC-Payload-Digest"),
        refers_to_uri=headers.get_header("WARC-Refers-To-Target-URI"),
        refers_to_date=headers.get_header("WARC-Refers-To-Date"),
        http_status=status, http_headers=list(http.headers) if http is not None else [], body=body)
