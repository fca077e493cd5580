"""The data model, one concept: collections, sources, captures, checks, videos, Wayback copies, transitions,
alerts, timestamp tokens and the custody record.

One concept, the schema, kept in one module so every table and index is read in one place.

Designed for years of history and millions of URLs: every list the CLI, scheduler and API ask for has an
index, long URLs are looked up through a SHA-256 of their normalized form, and timestamps are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import TSVECTOR, array
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from archive.urls import url_key
from archive.vocab import SourceKind, SourceStatus

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for years of checks.
BigId = BigInteger().with_variant(Integer, "sqlite")

# The database keeps these as plain strings; archive.vocab's enums are their one definition.
SOURCE_KINDS = tuple(kind.value for kind in SourceKind)
SOURCE_STATUSES = tuple(status.value for status in SourceStatus)


def utcnow() -> datetime:
    """Now, timezone-aware UTC: every stored time is UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always gives back aware UTC datetimes, also on SQLite which keeps no zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; lastseen stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Collection(Base):
    """A named set of sources an archivist crawls and watches together."""

    __tablename__ = "collection"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    recheck_interval: Mapped[int | None] = mapped_column(Integer, default=None)
    obey_robots: Mapped[bool] = mapped_column(Boolean, default=True)
    alert_on_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    public_read: Mapped[bool] = mapped_column(Boolean, default=False)
    # A full-page screenshot of each captured HTML page: None follows the default (on when Chromium is found).
    screenshots: Mapped[bool | None] = mapped_column(Boolean, default=None)
    media: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # crawls keep video media
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    proxy: Mapped[str | None] = mapped_column(Text, default=None)  # yt-dlp's proxy for this collection's videos
    cookies_file: Mapped[str | None] = mapped_column(Text, default=None)  # a cookies file yt-dlp may send
    # Regions its sources are checked from (archive.status.regions); None: anywhere, as one region.
    regions: Mapped[list[Any] | None] = mapped_column(default=None)
    # Paused or deleted: none of its sources is checked or captured (archive.sources.manage).
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    wayback: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # captures go to Wayback
    # How its pages are fetched (archive.vocab.CaptureMode): over HTTP, in a browser, or chosen per page (auto);
    # None follows LASTSEEN_CAPTURE (default auto).
    capture_mode: Mapped[str | None] = mapped_column(String(8), default=None)

    sources: Mapped[list[Source]] = relationship(back_populates="collection", cascade="all, delete-orphan",
                                                 passive_deletes=True)


class Source(Base):
    """A tracked URL in a collection, with what is known of it now."""

    __tablename__ = "source"
    __table_args__ = (
        UniqueConstraint("collection_id", "url_hash", name="uq_source_collection_url"),
        Index("ix_source_collection_status_id", "collection_id", "status", "id"),  # a filtered page, in id order
        Index("ix_source_status_vanished", "status", "vanished_at"),
        Index("ix_source_next_check", "next_check_at"),
        Index("ix_source_url_hash", "url_hash"),
        Index("ix_source_domain", "domain"),
        Index("ix_source_added", "added_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collection.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    normalized_url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default="page")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    recheck_interval: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(16), default="new")
    status_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    status_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    first_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    last_seen_alive_at: Mapped[datetime | None] = mapped_column(default=None)
    vanished_at: Mapped[datetime | None] = mapped_column(default=None)
    last_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    next_check_at: Mapped[datetime | None] = mapped_column(default=None)
    streak_outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    streak_count: Mapped[int] = mapped_column(Integer, default=0)
    streak_started_at: Mapped[datetime | None] = mapped_column(default=None)
    recovery_archive_url: Mapped[str | None] = mapped_column(Text, default=None)
    recovery_timestamp: Mapped[str | None] = mapped_column(String(14), default=None)
    # What the last alive check of a page got: its validators (asked again conditionally) and its body's hash.
    check_etag: Mapped[str | None] = mapped_column(String(512), default=None)
    check_last_modified: Mapped[str | None] = mapped_column(String(64), default=None)
    check_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    # Paused or deleted: never checked or captured; a deleted one keeps its captures until purged.
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # Failed capture attempts since its last capture, and when the next is due (the one backoff formula).
    capture_failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    capture_retry_at: Mapped[datetime | None] = mapped_column(default=None)

    collection: Mapped[Collection] = relationship(back_populates="sources")
    tags: Mapped[list[SourceTag]] = relationship(cascade="all, delete-orphan", lazy="selectin", passive_deletes=True)
    captures: Mapped[list[Capture]] = relationship(back_populates="source", order_by="Capture.captured_at",
                                                   cascade="all, delete-orphan", passive_deletes=True)

    @property
    def tag_names(self) -> list[str]:
        """Tags as plain strings, sorted."""
        return sorted(tag.tag for tag in self.tags)


class SourceTag(Base):
    """One tag on a source; a table (not a JSON list) so 'all sources tagged X' is an index scan."""

    __tablename__ = "source_tag"
    __table_args__ = (Index("ix_source_tag_tag", "tag"),)

    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True)


def _capture_url_key(context: Any) -> str:
    """Capture.url_hash when a row is inserted without one: the key of its URL."""
    return url_key(context.get_current_parameters()["url"])


class Capture(Base):
    """One archived copy of a source: a record inside a WARC file in storage."""

    __tablename__ = "capture"
    __table_args__ = (
        Index("ix_capture_source_time", "source_id", "captured_at"),
        Index("ix_capture_sha256", "payload_sha256"),
        Index("ix_capture_url_time", "url_hash", "captured_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    captured_at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str] = mapped_column(Text)
    # archive.urls.url_key(url): how Memento finds every copy of a URL, whichever source it was fetched for.
    url_hash: Mapped[str] = mapped_column(String(64), default=_capture_url_key)
    http_status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(255))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    payload_digest: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    record_type: Mapped[str] = mapped_column(String(16), default="response")
    warc_uri: Mapped[str] = mapped_column(Text)
    warc_offset: Mapped[int] = mapped_column(BigInteger)
    warc_length: Mapped[int] = mapped_column(BigInteger)
    record_id: Mapped[str | None] = mapped_column(String(64))
    page_meta: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # A page rendered in a browser: where, in the same WARC file, the record of its rendered DOM sits (the page's
    # description reads it: the text only the browser saw); None for a page fetched over HTTP.
    rendered_offset: Mapped[int | None] = mapped_column(BigInteger, default=None)
    rendered_length: Mapped[int | None] = mapped_column(BigInteger, default=None)

    source: Mapped[Source] = relationship(back_populates="captures")


class Requisite(Base):
    """One archived copy of what a page needs (image, stylesheet, font, script, icon, frame): a response or
    revisit record in a WARC file, found by URL for the next crawl's revisits. Not a source: never checked."""

    __tablename__ = "requisite"
    __table_args__ = (Index("ix_requisite_url_time", "collection_id", "url_hash", "captured_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collection.id", ondelete="CASCADE"))
    page_source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    captured_at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(255))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    payload_digest: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    record_type: Mapped[str] = mapped_column(String(16))
    warc_uri: Mapped[str] = mapped_column(Text)
    warc_offset: Mapped[int] = mapped_column(BigInteger)
    warc_length: Mapped[int] = mapped_column(BigInteger)
    record_id: Mapped[str | None] = mapped_column(String(64))


class Check(Base):
    """One availability check of a source and what it found."""

    __tablename__ = "check_result"
    __table_args__ = (
        Index("ix_check_source_time", "source_id", "checked_at"),
        Index("ix_check_outcome_time", "outcome", "checked_at"),
        # A source's latest `changed` check, without reading its whole history (partial: changes are rare).
        Index("ix_check_changed", "source_id", "checked_at", postgresql_where=text("outcome = 'changed'"),
              sqlite_where=text("outcome = 'changed'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(32))
    http_status: Mapped[int | None] = mapped_column(Integer)
    final_url: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[float | None] = mapped_column(Float)
    # What a `changed` check saw, the baseline of the next checks: the main text's hash, else the bytes' hash.
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    payload_sha256: Mapped[str | None] = mapped_column(String(64))
    # The region it was made from (the worker's --region); None: the unnamed region, "default".
    region: Mapped[str | None] = mapped_column(String(32))


class StatusTransition(Base):
    """A change of a source's status, with the checks that were its evidence."""

    __tablename__ = "status_transition"
    __table_args__ = (
        Index("ix_transition_source_time", "source_id", "at"),
        Index("ix_transition_kind_time", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    evidence: Mapped[list[Any]] = mapped_column(default=list)


class Tally(Base):
    """Counts as +n/-n rows, added by the database's triggers (migration 0012) and summed by archive.tally.

    name "sources": by collection_id and key = status; "checks": key = outcome; "captures": key =
    "record_type|status class" (2xx, ..., none); "vanishings": transitions to vanished by collection_id and day.
    """

    __tablename__ = "tally"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(16))
    collection_id: Mapped[int | None] = mapped_column(BigInteger)  # no foreign key: outlives its collection
    key: Mapped[str] = mapped_column(String(64))
    n: Mapped[int] = mapped_column(BigInteger)


class Video(Base):
    """A video found on pages: the provider's id, tracked as a source of kind 'video'."""

    __tablename__ = "video"
    __table_args__ = (Index("ix_video_provider_id", "provider", "video_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    video_id: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(Text)
    metadata_uri: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_source: Mapped[str | None] = mapped_column(String(16), default=None)
    metadata_fetched_at: Mapped[datetime | None] = mapped_column(default=None)
    title: Mapped[str | None] = mapped_column(Text, default=None)
    uploader: Mapped[str | None] = mapped_column(Text, default=None)
    channel: Mapped[str | None] = mapped_column(Text, default=None)
    upload_date: Mapped[str | None] = mapped_column(String(10), default=None)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    view_count: Mapped[int | None] = mapped_column(BigInteger, default=None)
    availability: Mapped[str | None] = mapped_column(String(32), default=None)
    media_uri: Mapped[str | None] = mapped_column(Text, default=None)  # the WARC file holding the media record
    media_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    media_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The capture whose WARC record holds the media (a response under its URL, or a resource naming the video).
    media_capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id", ondelete="SET NULL"),
                                                         default=None)

    source: Mapped[Source] = relationship()
    media_capture: Mapped[Capture | None] = relationship()


class PageVideo(Base):
    """Which page referenced which video, and how (many-to-many)."""

    __tablename__ = "page_video"
    __table_args__ = (Index("ix_page_video_video", "video_id"),)

    page_source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"), primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"), primary_key=True)
    found_as: Mapped[str] = mapped_column(String(16), default="link")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderPause(Base):
    """A video provider answered with a bot check or rate limit: its videos are not checked until `until`.

    Kept in the database so every process (scheduler, CLI, API jobs) sees it; one row per provider.
    """

    __tablename__ = "provider_pause"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    until: Mapped[datetime] = mapped_column()
    since: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")


class WaybackSubmission(Base):
    """One request to put a source into a Wayback archive, and how it ended."""

    __tablename__ = "wayback_submission"
    __table_args__ = (
        Index("ix_wayback_state_next", "state", "next_attempt_at"),
        Index("ix_wayback_source_time", "source_id", "requested_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id", ondelete="SET NULL"))
    target: Mapped[str] = mapped_column(Text, default="")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    job_id: Mapped[str | None] = mapped_column(String(128), default=None)
    archive_url: Mapped[str | None] = mapped_column(Text, default=None)
    archive_timestamp: Mapped[str | None] = mapped_column(String(14), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class WaybackLookup(Base):
    """What a Wayback archive already held for a source when we asked."""

    __tablename__ = "wayback_lookup"
    __table_args__ = (Index("ix_wayback_lookup_source", "source_id", "looked_up_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    looked_up_at: Mapped[datetime] = mapped_column(default=utcnow)
    target: Mapped[str] = mapped_column(Text, default="")
    first_timestamp: Mapped[str | None] = mapped_column(String(14))
    last_timestamp: Mapped[str | None] = mapped_column(String(14))
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_ok_timestamp: Mapped[str | None] = mapped_column(String(14))
    last_ok_url: Mapped[str | None] = mapped_column(Text)


class Alert(Base):
    """One alert for one status transition (unique per transition, so it is never raised twice), or for one
    reappearance of a vanished video's footage (no transition: the footage stage's match row holds it)."""

    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_state", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    transition_id: Mapped[int | None] = mapped_column(ForeignKey("status_transition.id", ondelete="CASCADE"),
                                                      unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)


class AlertDelivery(Base):
    """An alert's delivery on one channel; unique per (alert, channel) so a retry never doubles it."""

    __tablename__ = "alert_delivery"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel", name="uq_alert_delivery_channel"),
        Index("ix_alert_delivery_state", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class Webhook(Base):
    """A webhook registered for one collection, or for all when collection_id is empty."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    collection_id: Mapped[int | None] = mapped_column(ForeignKey("collection.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """An API token, stored only as its SHA-256, with a role: reader, archivist or admin."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class CrawlFailure(Base):
    """A fetch the crawl could not turn into a capture, with the reason (timeout, too_large, robots_txt, ...)."""

    __tablename__ = "crawl_failure"
    __table_args__ = (Index("ix_crawl_failure_source_time", "source_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class TimestampToken(Base):
    """An RFC 3161 timestamp token of a stored file, kept in storage beside it (``<key>.tsr``)."""

    __tablename__ = "timestamp_token"
    __table_args__ = (Index("ix_timestamp_token_file", "file_uri", "tsa_url"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_uri: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    tsa_url: Mapped[str] = mapped_column(Text)
    token_uri: Mapped[str] = mapped_column(Text)
    token_sha256: Mapped[str] = mapped_column(String(64))
    token_size: Mapped[int] = mapped_column(Integer)
    gen_time: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskLease(Base):
    """Work handed to a Celery task: one row per (kind, key) from the moment it is queued until it is done.

    The scheduler writes the row with the task's id before sending the task, so it never queues the same work
    twice; the worker that runs the task claims the row (holder, a new expires_at) with one UPDATE, so two
    deliveries of one task do the work once; a row whose expires_at has passed is free to be handed out again.
    """

    __tablename__ = "task_lease"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_task_lease_kind_key"),
                      Index("ix_task_lease_task", "task_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48))  # check.<region> for the checks of one region
    key: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str | None] = mapped_column(String(200), default=None)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


# Search's GIN index keys each document by its bucket (this many consecutive ids) beside its words, so a search
# reads the newest two buckets' matches first and the older ones only when those hold too few to rank
# (archive.research.search): two common words then cost a bucket's postings, not the whole archive's.
SEARCH_BUCKET = 65_536


def bucket_of(document_id: Any) -> Any:
    """The bucket of a document id (an SQL expression), with the divisor written out as the index has it."""
    return document_id.op("/")(literal_column(str(SEARCH_BUCKET)))


def search_bucket(document_id: Any) -> Any:
    """The bucket as the index holds it (an array, for GIN's built-in array operators; no extension needed)."""
    return array([bucket_of(document_id)])


class SearchDocument(Base):
    """One searchable text of the archive (a page's title, authors and main text; a video's title, uploader and
    description; later a transcript), kept for archive.research.search under a key its producer chooses.

    PostgreSQL searches `tsv` (weighted: title, then authors, then text; in the document's language) through a
    GIN index and ranks by `lead_tsv`, the same of the title, authors and the text's opening, small enough to stay
    in the row (the whole vector is TOASTed: reading it back cost most of a search); SQLite searches the FTS5
    table search_fts that triggers of migration 0018 keep in step.
    """

    __tablename__ = "search_document"
    __table_args__ = (
        Index("ix_search_document_source", "source_id"),
        Index("ix_search_document_language", "language"),  # the languages in use, by a skip scan
        # No pending list (fastupdate): a search scans the index up to three times, and each would read it all.
        Index("ix_search_document_tsv", text(f"(ARRAY[id / {SEARCH_BUCKET}])"), "tsv", postgresql_using="gin",
              postgresql_with={"fastupdate": "off"}),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # "page:<capture id>", "video:<source id>", ...
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    title: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    second: Mapped[float | None] = mapped_column(Float, default=None)  # where a video's line is said or shown
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow)
    tsv: Mapped[Any] = mapped_column(TSVECTOR().with_variant(Text(), "sqlite"), nullable=True, default=None)
    lead_tsv: Mapped[Any] = mapped_column(TSVECTOR().with_variant(Text(), "sqlite"), nullable=True, default=None)


class Subscription(Base):
    """A feed or sitemap a collection follows: polled on the collection's schedule, new entries become sources."""

    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("collection_id", "url_hash", name="uq_subscription_collection_url"),
                      Index("ix_subscription_next_poll", "next_poll_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collection.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_polled_at: Mapped[datetime | None] = mapped_column(default=None)
    next_poll_at: Mapped[datetime | None] = mapped_column(default=None)  # None: due now
    format: Mapped[str | None] = mapped_column(String(16), default=None)  # rss, atom, sitemap, sitemapindex
    last_added: Mapped[int] = mapped_column(Integer, default=0)
    total_added: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class CustodyEvent(Base):
    """One line of the custody record: who added, captured, exported, re-timestamped or deleted what, and when.

    Append-only: archive.evidence.custody is its one writer, and an event is never changed or deleted (the
    mapper refuses it). Collection and subject are kept as text, not keys, so the record outlives what it names.
    """

    __tablename__ = "custody_event"
    __table_args__ = (
        Index("ix_custody_collection_time", "collection", "at"),
        Index("ix_custody_subject", "subject_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(Text)
    collection: Mapped[str | None] = mapped_column(String(200), default=None)
    subject: Mapped[str] = mapped_column(Text)
    subject_hash: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
