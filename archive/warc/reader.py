"""Reading WARC records back: one ranged read of a capture, or every record of a file."""

from __future__ import annotations

import io
from collections.abc import Iterable
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
