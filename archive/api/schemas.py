"""What the API takes and gives: typed inputs (bodies, path and query parameters, the source filters) and the
pydantic models of its answers and errors; their names are part of the OpenAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.convertors import StringConvertor, register_url_convertor

from archive.status import region_names
from archive.vocab import CaptureMode, SourceKind, SourceStatus

MAX_URLS = 1000
MAX_ID = 2**63 - 1


# ---------------------------------------------------------------------------------------------- input types


def _clean(value: str) -> str:
    """Text that every database stores: valid UTF-8, no NUL."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _strip_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean), AfterValidator(_strip_name)]
UrlText = Annotated[str, Field(min_length=1, max_length=8000), AfterValidator(_clean)]
Tag = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean)]
class CollectionNameConvertor(StringConvertor):
    """A collection name in a route: '/' allowed (names made before they were limited may hold one), except
    a trailing '/feed.atom', '/timeline' or '/report', which are their routes'. Registered as `{name:collection}`."""

    # any character: NamePath's own checks answer 422 for bad ones
    regex = r"(?s:(?!.*/(?:feed\.atom|timeline|report)$).+)"


register_url_convertor("collection", CollectionNameConvertor())

NamePath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$",
                               description="collection name")]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryText = Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00]*$")]
# The enums' words, in their order: a status or kind added to archive.vocab is accepted (and documented) here.
Status = Literal[tuple(status.value for status in SourceStatus)]  # type: ignore[valid-type]
Kind = Literal[tuple(kind.value for kind in SourceKind)]  # type: ignore[valid-type]
Role = Literal["reader", "archivist", "admin"]


class Input(BaseModel):
    """Request bodies refuse fields they do not know."""

    model_config = ConfigDict(extra="forbid")


class AddSourcesIn(Input):
    urls: list[UrlText] = Field(min_length=1, max_length=MAX_URLS, description="URLs to track")
    kind: Kind | None = None  # None: from the URL (a video when a provider recognizes it)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    every: Annotated[str | None, Field(max_length=32, description="recheck interval, e.g. 12h, 30m, 2d")] = None


def _regions(value: list[str] | None) -> list[str] | None:
    """Region names, checked and deduplicated (archive.status.region_names)."""
    return None if value is None else list(region_names(value))


class CollectionPatch(Input):
    description: Annotated[str | None, Field(max_length=4000), AfterValidator(lambda v: v and _clean(v))] = None
    public_read: bool | None = None
    regions: Annotated[list[Annotated[str, Field(max_length=32)]] | None, Field(max_length=16),
                       AfterValidator(_regions)] = Field(
        default=None, description="check its sources from these regions, e.g. [\"default\", \"kz\"]; [] for anywhere")
    every: Annotated[str | None, Field(max_length=32, description="recheck interval of its sources, e.g. 24h; "
                                       "their next checks move at once")] = None
    wayback: bool | None = Field(default=None, description="send its captures to the Wayback target")
    capture: CaptureMode | None = Field(default=None, description="how its pages are fetched: http, browser (every "
                                        "page rendered in Chromium, everything it loads recorded) or auto (the "
                                        "browser for hosts that render client-side and for script-loading shells)")


class WebhookIn(Input):
    url: UrlText
    collection: Name | None = Field(default=None, description="only this collection's alerts; all when empty")
    secret: Annotated[str | None, Field(min_length=16, max_length=200), AfterValidator(lambda v: v and _clean(v))] \
        = Field(default=None, description="HMAC-SHA256 key; made up and returned once when not given")


class TokenIn(Input):
    name: Name
    role: Role = "reader"


# ---------------------------------------------------------------------------------------------- source filters


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise HTTPException(422, f"{name}: time out of range") from None


@dataclass(frozen=True)
class SourceFilters:
    """The filters every source list and export takes."""

    collection: str | None
    status: str | None
    kind: str | None
    domain: str | None
    tag: str | None
    added_after: datetime | None
    added_before: datetime | None
    vanished_after: datetime | None
    vanished_before: datetime | None


def source_filters(
    collection: QueryText = None,
    status: Status | None = None,
    kind: Kind | None = None,
    domain: Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00]*$",
                                        description="host without 'www.'")] = None,
    tag: QueryText = None,
    added_after: datetime | None = None,
    added_before: datetime | None = None,
    vanished_after: datetime | None = None,
    vanished_before: datetime | None = None,
) -> SourceFilters:
    """Query parameters to filters; naive times are UTC."""
    return SourceFilters(collection=collection.strip() if collection else None, status=status, kind=kind,
                         domain=domain.strip().lower().removeprefix("www.") if domain else None, tag=tag,
                         added_after=_utc(added_after, "added_after"), added_before=_utc(added_before, "added_before"),
                         vanished_after=_utc(vanished_after, "vanished_after"),
                         vanished_before=_utc(vanished_before, "vanished_before"))


FiltersDep = Annotated[SourceFilters, Depends(source_filters)]


# ---------------------------------------------------------------------------------------------- answers


class ErrorOut(BaseModel):
    error: str
    message: str
    details: list[dict[str, Any]] | None = None


class SourceOut(BaseModel):
    id: int
    url: str
    normalized_url: str
    collection: str
    kind: str
    tags: list[str]
    status: str
    reason: str | None
    added_at: str | None
    first_seen_at: str | None
    last_seen_alive_at: str | None
    vanished_at: str | None
    last_checked_at: str | None
    next_check_at: str | None


class SourcePage(BaseModel):
    items: list[SourceOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")
    next: str | None = Field(default=None, description="the URL of the next page (same filters and limit, this "
                             "cursor; also sent as a Link rel=next header); null on the last")
    limit: int


class CollectionOut(BaseModel):
    name: str
    description: str
    sources: int
    by_status: dict[str, int]
    recheck_interval: int | None
    obey_robots: bool
    public_read: bool
    regions: list[str] = Field(default_factory=list, description="regions its sources are checked from")
    created_at: str | None
    wayback: bool = True
    paused_at: str | None = None
    deleted_at: str | None = None
    capture: str | None = Field(default=None, description="how its pages are fetched: http, browser or auto; null "
                                "follows the server's LASTSEEN_CAPTURE (default auto)")


class IntervalOut(BaseModel):
    state: str = Field(description="alive, vanished, returned, geo_blocked or unknown (could not tell)")
    start: str
    end: str | None = Field(description="null: still so at the moment asked about")
    reason: str | None


class FirstKnownOut(BaseModel):
    at: str
    from_: str = Field(alias="from", description="upload_date, published, wayback or capture")
    value: str = Field(description="as that origin gave it: a date, a memento timestamp, a capture id")
    day_only: bool = False


class EventOut(BaseModel):
    at: str
    kind: str
    from_: str = Field(alias="from")
    to: str
    reason: str | None


class WaybackCopyOut(BaseModel):
    at: str
    url: str


class CopiesOut(BaseModel):
    captures: int
    first_capture_at: str | None
    last_capture_at: str | None
    last_capture_id: int | None
    wayback: list[WaybackCopyOut]


class SourceTimelineOut(BaseModel):
    id: int
    url: str
    kind: str
    title: str | None
    state: str = Field(description="at as_of: alive, vanished, returned, geo_blocked, unknown or not_yet_known")
    reason: str | None
    since: str | None
    regions: dict[str, str] = Field(description="each region's state at as_of, from its own checks")
    first_known: FirstKnownOut | None
    known_from: list[FirstKnownOut]
    intervals: list[IntervalOut]
    region_intervals: dict[str, list[IntervalOut]]
    events: list[EventOut]
    copies: CopiesOut


class TimelineOut(BaseModel):
    collection: str
    as_of: str
    counts: dict[str, int]
    online: list[str]
    vanished: list[str]
    unknown: list[str]
    not_yet_known: list[str]
    sources: list[SourceTimelineOut]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next sources; null on the "
                                                              "last")


class SearchHitOut(BaseModel):
    source_id: int
    url: str
    collection: str
    kind: str = Field(description="page or video; caption, speech or screen for a line of a video's words")
    title: str | None
    authors: str | None
    language: str | None
    capture_id: int | None
    captured_at: str | None
    capture_url: str | None = Field(description="the archived copy, replayed from its WARC (a video's line: its "
                                                "media, from the second it is said or shown: #t=SECOND)")
    snippet: str = Field(description="the matched words between ** and **")
    score: float
    second: float | None = Field(default=None, description="where in the video the words are said or shown")


class SearchOut(BaseModel):
    query: str
    hits: list[SearchHitOut]
    note: str | None = Field(None, description="why there are no hits without searching: the query has no word "
                                                 "to look for (only symbols, or only common words); or that the "
                                                 "hits are the best of the first matches only (very common words)")


class DiffSideOut(BaseModel):
    capture_id: int
    captured_at: str | None
    record_type: str
    http_status: int | None


class DiffOut(BaseModel):
    url: str
    from_: DiffSideOut = Field(alias="from")
    to: DiffSideOut
    changed: bool = Field(description="whether the main text differs")
    summary: str = Field(description="one line: how many sentences were removed and added, the first quoted")
    removed: list[str] = Field(description="sentences only the older capture has")
    added: list[str] = Field(description="sentences only the newer capture has")
    diff: list[str] = Field(description="a unified diff of the main text, one sentence a line")
    truncated: bool


class Refused(BaseModel):
    url: str
    reason: str


class Known(BaseModel):
    url: str
    normalized_url: str


class AddSourcesOut(BaseModel):
    collection: str
    added: list[str]
    known: list[Known]
    refused: list[Refused]


class JobOut(BaseModel):
    id: str
    kind: str
    collection: str
    state: str = Field(description="running, succeeded, partial (exit 1) or failed")
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    result: Any = Field(description="the command's --json output, once finished")
    log_tail: str | None


class WebhookOut(BaseModel):
    id: int
    url: str
    collection: str | None
    created_at: str | None
    secret: str | None = Field(default=None, description="only in the answer that created it")


class TokenOut(BaseModel):
    name: str
    role: str
    created_at: str | None
    revoked_at: str | None
    token: str | None = Field(default=None, description="only in the answer that created it")


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": HTTPStatus(code).phrase} for code in (400, 401, 403, 404, 422)}


# ------------------------------------------------------------------------------------- managing the watch list


class SourcePatch(Input):
    every: Annotated[str, Field(min_length=1, max_length=32,
                                description="its own recheck interval, e.g. 12h, 30m; its next check moves at once")]


class WatchOut(BaseModel):
    """What a pause, resume, delete or interval change did."""

    collection: str | None = None
    source_id: int | None = None
    action: str = Field(description="paused, resumed, restored, deleted, purged, rescheduled, or unchanged")
    paused_at: str | None = None
    deleted_at: str | None = None
    next_check_at: str | None = None
    purged: dict[str, Any] | None = Field(default=None, description="sources, captures and files a purge removed")
