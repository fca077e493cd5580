"""The words lastseen stores: kinds of source, statuses, videos' availability and kinds of status transition.

Pure, the bottom layer: StrEnums whose values are the plain strings the database keeps, so every layer
(status machine, storage, checks, API, CLI) names them one way.
"""

from __future__ import annotations

from enum import StrEnum


class SourceKind(StrEnum):
    """What a source is: a web page, or a video tracked at its provider."""

    PAGE = "page"
    VIDEO = "video"


class CaptureMode(StrEnum):
    """How a collection's pages are fetched: over HTTP, in a browser (text built by scripts kept), or auto (the
    browser for hosts known to render client-side and for pages whose HTML is a script-loading shell)."""

    HTTP = "http"
    BROWSER = "browser"
    AUTO = "auto"


def capture_mode(chosen: str | None, default: str) -> CaptureMode:
    """A collection's capture mode: its own choice, else the default setting (auto when that is no mode)."""
    for value in (chosen, default):
        if value in CaptureMode.__members__.values():
            return CaptureMode(value)
    return CaptureMode.AUTO


class SourceStatus(StrEnum):
    """What is known of a source now."""

    NEW = "new"
    ALIVE = "alive"
    UNREACHABLE = "unreachable"
    VANISHED = "vanished"
    RETURNED = "returned"
    GEO_BLOCKED = "geo_blocked"  # alive in some regions, refused for geography in others (archive.status.regions)


class VideoAvailability(StrEnum):
    """What is known of a video at its provider (Video.availability): yt-dlp's words for a video that plays,
    or the verdict of the check or crawl that found it does not (archive.sources.state.note_availability)."""

    PUBLIC = "public"
    UNLISTED = "unlisted"
    NEEDS_AUTH = "needs_auth"
    PREMIUM_ONLY = "premium_only"
    SUBSCRIBER_ONLY = "subscriber_only"
    PRIVATE = "private"
    GONE = "gone"
    REMOVED = "removed"
    ACCOUNT_TERMINATED = "account_terminated"
    GEO_BLOCKED = "geo_blocked"
    AGE_RESTRICTED = "age_restricted"


# Verdicts a provider gives of a video that does not simply play: a later plain "ok" makes it public again.
VIDEO_VERDICTS = frozenset({VideoAvailability.PRIVATE, VideoAvailability.GONE, VideoAvailability.REMOVED,
                            VideoAvailability.ACCOUNT_TERMINATED, VideoAvailability.GEO_BLOCKED,
                            VideoAvailability.AGE_RESTRICTED})


class TransitionKind(StrEnum):
    """Why a status transition was recorded; only vanished, returned and changed raise alerts."""

    VANISHED = "vanished"
    RETURNED = "returned"
    CHANGED = "changed"
    UNREACHABLE = "unreachable"
    ALIVE = "alive"


# The kind of an alert with no transition: a vanished video's footage found again (the footage stage makes it,
# the alert round delivers it); never a status, so no tally of status changes counts it.
REAPPEARED = "reappeared"


class SubmissionState(StrEnum):
    """Where a Wayback submission is: waiting, under way, or settled (see archive.wayback's queue)."""

    QUEUED = "queued"
    PENDING = "pending"
    RETRYING = "retrying"
    PAUSED = "paused"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


# Not under way yet: new content joins such a row instead of queueing the source again.
OPEN_SUBMISSIONS = (SubmissionState.QUEUED.value, SubmissionState.RETRYING.value, SubmissionState.PAUSED.value)
