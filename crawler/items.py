"""What the spider hands to the pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scrapy.http import Response

from archive.warc import ExchangeRecords, WarcRecordInfo


@dataclass
class PageCapture:
    """A fetched source whose exchange is in the WARC, and which videos it shows."""

    source_id: int
    collection_id: int
    kind: str
    requested_url: str
    response: Response
    records: ExchangeRecords
    content_type: str | None
    videos: list[Any] = field(default_factory=list)
    failure: str | None = None
    redirect_to: str | None = None  # a redirect hop: archived under its own URL, followed as its own request
    video_info: dict[str, Any] | None = None  # yt-dlp's info of a video source (for its media's metadata record)
    describe: bool = False  # an HTML page: its metadata is described after the crawl, from the WARC record
    # captured in a browser: the record of the DOM it rendered (in the file of `records`), described for its text
    rendered: WarcRecordInfo | None = None


@dataclass
class FailedFetch:
    """A source that could not be captured, and why."""

    source_id: int
    url: str
    reason: str
    detail: str
