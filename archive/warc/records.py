"""Records lastseen writes beside a fetch: warcinfo with the custody facts, a page's screenshot, and a video's
media as a resource record; each built apart, ready to append to any WARC file (metadata records: writer).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from warcio.warcwriter import WARCWriter

from archive.warc.writer import (
    SCREENSHOT_URI_PREFIX,
    PreparedFile,
    PreparedRecord,
    WarcRecordInfo,
    sha1_b32,
    warc_date,
)


def custody_warcinfo(*, software: str, operator: str, hostname: str, proxy: str, region: str, started_by: str,
                     collection: str) -> dict[str, str]:
    """The warcinfo fields that say who made a file, where from and why (the custody of its records).

    The egress is the proxy's scheme, host and port (never its credentials) and the configured region;
    `startedBy` is the command, API token or scheduler that started the crawl.
    """
    parts = urlsplit(proxy) if proxy else None
    egress = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}" if parts else "direct"
    return {
        "software": software,
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "operator": operator or "unknown",
        "hostname": hostname,
        "egress-proxy": egress,
        "egress-region": region or "unknown",
        "startedBy": started_by,
        "isPartOf": collection,
    }


RENDERED_URI_PREFIX = "urn:lastseen:rendered:"


def prepare_screenshot(*, url: str, concurrent_to: str, png: bytes, taken_at: datetime) -> PreparedRecord:
    """A `resource` record holding a page's screenshot (PNG), tied to the page's response record.

    Its Target-URI is ``urn:lastseen:screenshot:<page URL>``, not the page's own URL, so replay never serves
    the picture for the page (as with metadata records).
    """
    return _prepared_resource(SCREENSHOT_URI_PREFIX + url, "image/png", png, taken_at, concurrent_to)


def prepare_rendered(*, url: str, concurrent_to: str, html: bytes, taken_at: datetime) -> PreparedRecord:
    """A `resource` record of the DOM a browser rendered from a page (UTF-8 HTML), tied to its response record.

    Under ``urn:lastseen:rendered:<page URL>``, never the page's URL: replay serves the page as received, and
    its scripts rebuild it from the archived responses; this record is what the page's text is read from.
    """
    return _prepared_resource(RENDERED_URI_PREFIX + url, "text/html; charset=utf-8", html, taken_at, concurrent_to)


def _prepared_resource(target: str, content_type: str, payload: bytes, taken_at: datetime,
                       concurrent_to: str) -> PreparedRecord:
    """A resource record of payload under target, built into bytes ready to append to any WARC file."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    headers = {"WARC-Date": warc_date(taken_at), "WARC-Concurrent-To": concurrent_to}
    record = writer.create_warc_record(target, "resource", payload=io.BytesIO(payload), length=len(payload),
                                       warc_content_type=content_type, warc_headers_dict=headers)
    writer.write_record(record)
    member = out.getvalue()
    rec = record.rec_headers
    info = WarcRecordInfo(file_name="", offset=0, length=len(member), record_id=rec.get_header("WARC-Record-ID"),
                          record_type="resource", target_uri=target, date=rec.get_header("WARC-Date"),
                          payload_sha256=hashlib.sha256(payload).hexdigest(),
                          payload_digest=rec.get_header("WARC-Payload-Digest") or sha1_b32(payload),
                          block_digest=rec.get_header("WARC-Block-Digest") or "", payload_size=len(payload))
    return PreparedRecord(data=member, info=info, mime=content_type.split(";", 1)[0])


def prepare_resource(path: Path, *, uri: str, content_type: str, fetched_at: datetime, spool_dir: Path,
                     sha256: str, concurrent_to: str | None = None,
                     extra_headers: dict[str, str] | None = None) -> PreparedFile:
    """A resource record of a file (a video yt-dlp downloaded, its thumbnail, its subtitles) under `uri`, built
    into a spool file; `sha256` is the file's, computed by the caller while it had the file; `extra_headers` are
    WARC extension fields (a caption's language)."""
    size = path.stat().st_size
    headers = {**(extra_headers or {}), "WARC-Date": warc_date(fetched_at)}
    if concurrent_to:
        headers["WARC-Concurrent-To"] = concurrent_to
    fd, name = tempfile.mkstemp(dir=spool_dir, prefix=".record-", suffix=".warc.gz")
    try:
        with os.fdopen(fd, "wb") as out, path.open("rb") as payload:
            writer = WARCWriter(out, gzip=True, warc_version="1.1")
            record = writer.create_warc_record(uri, "resource", payload=payload, length=size,
                                               warc_content_type=content_type, warc_headers_dict=headers)
            writer.write_record(record)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    rec = record.rec_headers
    digest = rec.get_header("WARC-Payload-Digest") or rec.get_header("WARC-Block-Digest") or ""
    info = WarcRecordInfo(file_name="", offset=0, length=Path(name).stat().st_size,
                          record_id=rec.get_header("WARC-Record-ID"), record_type="resource", target_uri=uri,
                          date=rec.get_header("WARC-Date"), payload_sha256=sha256, payload_digest=digest,
                          block_digest=rec.get_header("WARC-Block-Digest") or "", payload_size=size)
    return PreparedFile(path=Path(name), info=info, mime=content_type)
