"""What a browser rendering from the archive may be given: the responses this crawl wrote, looked up by URL.

Screenshots render a captured page from these records alone (the page and whatever of its requisites the
crawl holds); a request they cannot answer fails, it is never fetched. Any capture of the crawl is remembered
(pages, redirect hops, requisites), so what is archived for a URL is what the browser sees.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import urldefrag

from archive.warc import RollingWarcWriter, WarcError, WarcRecordInfo, decoded_body, read_record

# the body handed back is decoded, whole: its transfer headers no longer apply
_DROPPED_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass(frozen=True)
class Answer:
    """An archived response, ready for a browser: status, headers and the decoded body."""

    status: int
    headers: dict[str, str]
    body: bytes


class ArchivedAnswers:
    """URL -> where this crawl wrote its response record; answers read the record back from the spool."""

    def __init__(self) -> None:
        self._records: dict[str, WarcRecordInfo] = {}
        self._lock = threading.Lock()

    def remember(self, url: str, record: WarcRecordInfo) -> None:
        """Note a response record written for url (a revisit holds no body here and is not an answer)."""
        if record.record_type != "response":
            return
        with self._lock:
            self._records[urldefrag(url)[0]] = record

    def answer(self, url: str, writer: RollingWarcWriter | None) -> Answer | None:
        """The archived response for url, or None when the crawl holds none (or its file has left the spool)."""
        with self._lock:
            record = self._records.get(urldefrag(url)[0])
        data = writer.read_back(record) if record is not None and writer is not None else None
        if data is None:
            return None
        try:
            archived = read_record(data)
            body = decoded_body(archived)
        except WarcError:
            return None
        headers: dict[str, str] = {}
        for name, value in archived.http_headers:
            if name.lower() not in _DROPPED_HEADERS:
                headers[name] = value
        return Answer(archived.http_status or 200, headers, body)
