"""Recording what a page's browser receives, through the DevTools protocol, as Browsertrix does.

CDP's Fetch domain pauses each response of the page's target (its frames, same-process frames included) at the
response stage: its status and headers are known, the body is taken with Fetch.getResponseBody, and the
response is let through unchanged. No certificate is forged (a recording proxy would have to be a
man-in-the-middle for https), and what is recorded is what the browser got. Chromium hands the body decoded
from its content coding, so the recorded headers drop Content-Encoding and say the true length.

A response the guarded proxy refused (its `X-Lastseen-Refused` header) is no site's answer and is not
recorded. A page's sub-responses share a count and a byte cap (LASTSEEN_REQUISITE_COUNT/_BYTES); past them,
responses pass unrecorded and the page's failures say how many.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from archive.net.http import one_line
from archive.warc import ExchangeRecords

logger = logging.getLogger(__name__)

REFUSED_HEADER = "x-lastseen-refused"
_DROPPED = {"content-encoding", "content-length", "transfer-encoding"}
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class Exchange:
    """One request the page made and the response it received, ready to be written as a WARC pair."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    reason: str
    response_headers: list[tuple[str, str]]
    body: bytes
    fetched_at: datetime
    document: bool  # a frame's document (the page's own is the main frame's)
    frame_id: str


@dataclass
class Caps:
    """What the page's sub-responses may still take, and what was left unrecorded (with why)."""

    count: int
    size: int
    page_size: int
    skipped: list[tuple[str, str]] = field(default_factory=list)


Write = Callable[[Exchange], ExchangeRecords]


class PageRecorder:
    """Records every response of one page into the crawl's WARC (through `write`), and finds the page's own."""

    def __init__(self, write: Write, caps: Caps, body_timeout: Callable[[], float]) -> None:
        self.write, self.caps, self.body_timeout = write, caps, body_timeout
        self.main_frame = ""
        self.main: ExchangeRecords | None = None  # the main frame's document response (the last hop's)
        self.main_exchange: Exchange | None = None
        self.recorded = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def attach(self, context: Any, page: Any) -> None:
        """Pause every response of the page at the response stage from now on."""
        session = await context.new_cdp_session(page)
        tree = await session.send("Page.getFrameTree")
        self.main_frame = tree["frameTree"]["frame"]["id"]
        session.on("Fetch.requestPaused", lambda event: self._spawn(session, event))
        await session.send("Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Response"}]})

    def _spawn(self, session: Any, event: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self._paused(session, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _paused(self, session: Any, event: dict[str, Any]) -> None:
        """Take the paused response's body, record the exchange, let the response through; never raises."""
        try:
            exchange = await self._exchange(session, event)
            if exchange is not None:
                self._record(exchange)
        except Exception as exc:  # a closed page, a body the browser no longer holds: the page goes on
            logger.debug("not recorded: %s: %s", event.get("request", {}).get("url"), one_line(str(exc)))
        try:
            await session.send("Fetch.continueRequest", {"requestId": event["requestId"]})
        except Exception as exc:  # the page or its context closed meanwhile
            logger.debug("not continued: %s", one_line(str(exc)))

    async def _exchange(self, session: Any, event: dict[str, Any]) -> Exchange | None:
        status = event.get("responseStatusCode")
        request = event["request"]
        if status is None or event.get("responseErrorReason"):
            return None
        headers = [(h["name"], h["value"]) for h in event.get("responseHeaders") or []]
        if any(name.lower() == REFUSED_HEADER for name, _ in headers):
            self.caps.skipped.append((request["url"], "refused by the net guard"))
            return None
        document = event.get("resourceType") == "Document"
        main = document and event.get("frameId") == self.main_frame
        limit = self.caps.page_size if main else min(self.caps.page_size, self.caps.size)
        if not main and self.caps.count <= 0:
            self.caps.skipped.append((request["url"], "over the page's count of recorded responses"))
            return None
        declared = _length(headers)
        if declared is not None and declared > limit:
            self.caps.skipped.append((request["url"], f"{declared} bytes: over the cap of {limit}"))
            return None
        body = b""
        if status not in _REDIRECTS and request.get("method", "GET") != "HEAD":
            answer = await asyncio.wait_for(session.send("Fetch.getResponseBody", {"requestId": event["requestId"]}),
                                            max(0.1, self.body_timeout()))
            body = base64.b64decode(answer["body"]) if answer.get("base64Encoded") else answer["body"].encode()
        if len(body) > limit:
            self.caps.skipped.append((request["url"], f"{len(body)} bytes: over the cap of {limit}"))
            return None
        if not main:
            self.caps.count -= 1
            self.caps.size -= len(body)
        sent = [(name, value) for name, value in (request.get("headers") or {}).items()]
        return Exchange(url=request["url"], method=request.get("method", "GET"), request_headers=sent,
                        status=int(status), reason=event.get("responseStatusText") or _reason(int(status)),
                        response_headers=[(n, v) for n, v in headers if n.lower() not in _DROPPED],
                        body=body, fetched_at=datetime.now(UTC), document=document,
                        frame_id=event.get("frameId") or "")

    def _record(self, exchange: Exchange) -> None:
        records = self.write(exchange)
        self.recorded += 1
        if exchange.document and exchange.frame_id == self.main_frame and exchange.status not in _REDIRECTS:
            self.main, self.main_exchange = records, exchange

    async def drain(self, timeout: float) -> None:
        """Wait (up to timeout seconds) for the responses being recorded."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max(0.1, timeout))


def _length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length" and value.strip().isdigit():
            return int(value)
    return None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
