"""The words lastseen stores: kinds of source, statuses and kinds of status transition.

Pure, the bottom layer: StrEnums whose values are the plain strings the database keeps, so every layer
(status machine, storage, checks, API, CLI) names them one way.
"""

from __future__ import annotations

from enum import StrEnum


class SourceKind(StrEnum):
    """What a source is: a web page, or a video tracked at its provider."""

    PAGE = "page"
    VIDEO = "video"


class SourceStatus(StrEnum):
    """What is known of a source now."""

    NEW = "new"
    ALIVE = "alive"
    UNREACHABLE = "unreachable"
    VANISHED = "vanished"
    RETURNED = "returned"
    GEO_BLOCKED = "geo_blocked"  # alive in some regions, refused for geography in others (archive.status.regions)


class TransitionKind(StrEnum):
    """Why a status transition was recorded; only vanished, returned and changed raise alerts."""

    VANISHED = "vanished"
    RETURNED = "returned"
    CHANGED = "changed"
    UNREACHABLE = "unreachable"
    ALIVE = "alive"


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
