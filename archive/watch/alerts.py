"""What an alert says, and making them: one Alert per status transition that matters, never two.

A transition to ``vanished`` or ``returned`` (and ``changed``, when the collection asks for it) gets one Alert row;
the alert table is unique per transition, and rows go in with INSERT ... ON CONFLICT DO NOTHING, so running
``create_alerts`` twice, or in two workers at once, never makes two.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from archive.db import DatabaseError
from archive.models import (
    Alert,
    Capture,
    Check,
    Collection,
    Source,
    StatusTransition,
    Video,
    WaybackSubmission,
    utcnow,
)
from archive.status import ALERT_KINDS, ALIVE
from archive.timefmt import iso
from archive.vocab import REAPPEARED, SourceStatus, TransitionKind

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
BATCH = 500
# Where the API serves a capture; links in alerts are built on Settings.public_url with it.
CAPTURE_PATH = "/api/captures/{id}"

_ALWAYS = [kind.value for kind in ALERT_KINDS if kind is not TransitionKind.CHANGED]
_ALIVE_OUTCOMES = [outcome.value for outcome in ALIVE]
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


# --- what an alert says ---------------------------------------------------------------------------

def alerting() -> Any:
    """SQL condition: the transition raises an alert (changed only where the collection asks)."""
    return or_(StatusTransition.kind.in_(_ALWAYS),
               and_(StatusTransition.kind == TransitionKind.CHANGED.value, Collection.alert_on_changed.is_(True)))


def _last_seen_alive(session: Session, source: Source, transition: StatusTransition) -> datetime | None:
    """The last time the source answered alive before the transition (a change is itself alive)."""
    if transition.kind == TransitionKind.CHANGED:
        return transition.at
    check_at = session.scalar(select(func.max(Check.checked_at)).where(
        Check.source_id == source.id, Check.outcome.in_(_ALIVE_OUTCOMES), Check.checked_at < transition.at))
    capture_at = session.scalar(select(func.max(Capture.captured_at)).where(
        Capture.source_id == source.id, Capture.http_status < 400, Capture.captured_at < transition.at))
    known = source.last_seen_alive_at if source.last_seen_alive_at and source.last_seen_alive_at < transition.at \
        else None
    return max((t for t in (check_at, capture_at, known) if t is not None), default=None)


def _own_capture(session: Session, source_id: int, before: datetime) -> dict[str, Any] | None:
    """lastseen's newest good copy of the source from before the transition."""
    capture = session.scalar(select(Capture).where(
        Capture.source_id == source_id, Capture.http_status < 400, Capture.captured_at <= before)
        .order_by(Capture.captured_at.desc(), Capture.id.desc()).limit(1))
    if capture is None:
        return None
    return {"id": capture.id, "captured_at": iso(capture.captured_at), "http_status": capture.http_status,
            "warc_uri": capture.warc_uri, "warc_offset": capture.warc_offset, "warc_length": capture.warc_length}


def _wayback_copy(session: Session, source: Source) -> str | None:
    """The recovery copy found when it vanished, else the newest copy we had the Wayback Machine make."""
    if source.recovery_archive_url:
        return source.recovery_archive_url
    return session.scalar(select(WaybackSubmission.archive_url).where(
        WaybackSubmission.source_id == source.id, WaybackSubmission.state == "done",
        WaybackSubmission.archive_url.is_not(None))
        .order_by(WaybackSubmission.requested_at.desc(), WaybackSubmission.id.desc()).limit(1))


def _regions(transition: StatusTransition) -> dict[str, Any] | None:
    """Where a geo_blocked source vanished and where it still answers, from its evidence (one check per region)."""
    if transition.to_status != SourceStatus.GEO_BLOCKED:
        return None
    named = [item for item in transition.evidence or [] if isinstance(item, dict) and item.get("region")]
    return {"vanished_in": [{"region": item["region"], "outcome": item.get("outcome"),
                             "http_status": item.get("http_status")} for item in named
                            if item.get("outcome") not in _ALIVE_OUTCOMES],
            "alive_in": [item["region"] for item in named if item.get("outcome") in _ALIVE_OUTCOMES]}


def _change(transition: StatusTransition) -> dict[str, Any] | None:
    """What changed in a `changed` page, as its check's evidence says (archive.watch.change)."""
    found = [item["change"] for item in transition.evidence or []
             if isinstance(item, dict) and isinstance(item.get("change"), dict)]
    return found[-1] if found else None


def _title(session: Session, source: Source, transition: StatusTransition, change: dict[str, Any] | None) -> str | None:
    """The page's title (as the check that saw it change found it, else its newest capture's) or the video's."""
    if change and change.get("title"):
        return str(change["title"])
    if source.kind == "video":
        title = session.scalar(select(Video.title).where(Video.source_id == source.id).limit(1))
        if title:
            return title
    for meta in session.scalars(select(Capture.page_meta).where(
            Capture.source_id == source.id, Capture.captured_at <= transition.at, Capture.page_meta.is_not(None))
            .order_by(Capture.captured_at.desc(), Capture.id.desc()).limit(3)):
        if isinstance(meta, dict) and isinstance(meta.get("title"), str) and meta["title"].strip():
            return meta["title"].strip()
    return None


def transition_payload(session: Session, transition: StatusTransition, source: Source,
                       collection: Collection) -> dict[str, Any]:
    """What an alert about this transition says; stored on the Alert row (fields are an interface; ``regions``
    only for a source geo_blocked in some regions, ``change`` only for a changed page)."""
    regions = _regions(transition)
    change = _change(transition)
    return {
        "transition_id": transition.id,
        "source_id": source.id,
        "url": source.url,
        "title": _title(session, source, transition, change),
        "normalized_url": source.normalized_url,
        "collection": collection.name,
        "source_kind": source.kind,
        "kind": transition.kind,
        "from_status": transition.from_status,
        "to_status": transition.to_status,
        "reason": transition.reason,
        "at": iso(transition.at),
        "last_seen_alive_at": iso(_last_seen_alive(session, source, transition)),
        "capture": _own_capture(session, source.id, transition.at),
        "wayback_url": _wayback_copy(session, source),
        **({"regions": regions} if regions is not None else {}),
        **({"change": change} if change is not None else {}),
    }


def capture_url(payload: dict[str, Any], base_url: str | None) -> str | None:
    """Link to lastseen's own copy through the API, when the API's public address is known."""
    if not base_url or not payload.get("capture"):
        return None
    return base_url.rstrip("/") + CAPTURE_PATH.format(id=payload["capture"]["id"])


def _where(regions: dict[str, Any]) -> str:
    """ in kz (HTTP 451), ru: the regions where a geo_blocked source vanished."""
    places = [f"{item['region']}" + (f" (HTTP {item['http_status']})" if item.get("http_status") else "")
              for item in regions.get("vanished_in", [])]
    return f" in {', '.join(places)}" if places else ""


def _clock(seconds: float) -> str:
    """0:12 or 1:02:03: a second of a video as people write it."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return (f"{hours}:" if hours else "") + (f"{rest // 60:02d}" if hours else f"{rest // 60}") + f":{rest % 60:02d}"


def _reappeared(payload: dict[str, Any]) -> str:
    """Footage of X reappeared at Y: 84% of its frames, 0:12-0:48 (or, in a picture, its frame at 0:05)."""
    spans = ", ".join(f"{_clock(s['start'])}-{_clock(s['end'])}" for s in payload.get("segments", [])[:3])
    if payload.get("image"):
        return f"Footage of {payload['url']} reappeared at {payload['where']}: its frame at {spans.split('-')[0]}"
    share = payload["share"]
    return f"Footage of {payload['url']} reappeared at {payload['where']}: {share:.0%} of its frames, {spans}"


def headline(payload: dict[str, Any]) -> str:
    """One line: what happened to which URL, and why (and where, for a source refused in some regions)."""
    if payload.get("kind") == REAPPEARED:
        return _reappeared(payload)
    reason = f" ({payload['reason']})" if payload.get("reason") else ""
    where = _where(payload["regions"]) if payload.get("regions") else ""
    title = f" «{' '.join(str(payload['title']).split())[:120]}»" if payload.get("title") else ""
    return f"{str(payload['kind']).capitalize()}{where}: {payload['url']}{title}{reason}"


def _changed_line(change: dict[str, Any]) -> str:
    """The change's summary, with the capture it was compared with."""
    since = change.get("since_capture") or {}
    when = f" (since the capture of {since['captured_at']})" if since.get("captured_at") else ""
    return f"{change['summary']}{when}" if change.get("summary") else "no earlier capture's text to compare with"


def describe(payload: dict[str, Any], base_url: str | None) -> list[str]:
    """Plain-text lines about one alert, for messages and the feed."""
    capture = payload.get("capture")
    own = capture_url(payload, base_url) or (
        f"{capture['warc_uri']} @{capture['warc_offset']}+{capture['warc_length']}" if capture else None)
    if payload.get("kind") == REAPPEARED:
        return [headline(payload),
                f"  collection: {payload['collection']}; {payload['status']} since {payload.get('vanished_at') or '-'}",
                f"  the copy: {payload['media_url']} (kept {payload.get('found_captured_at') or '-'})",
                f"  lastseen copy of the original: {own or 'none'}"]
    return [
        headline(payload),
        f"  collection: {payload['collection']}; {payload['from_status']} -> {payload['to_status']} at "
        f"{payload['at']}",
        f"  last seen alive: {payload.get('last_seen_alive_at') or 'never seen alive'}",
        f"  lastseen copy: {own or 'none'}",
        f"  Wayback copy: {payload.get('wayback_url') or 'none'}",
    ] + ([f"  what changed: {_changed_line(payload['change'])}"] if payload.get("change") else []) \
      + ([f"  still alive in: {', '.join(payload['regions']['alive_in']) or 'none'}"] if payload.get("regions") else [])


# --- creating alerts ------------------------------------------------------------------------------

def insert_new(session: Session, table: Any, rows: list[dict[str, Any]], keys: Sequence[str]) -> int:
    """Insert rows, skipping those that clash on `keys` (another worker got there first); count those added."""
    if not rows:
        return 0
    insert = _INSERTS.get(session.get_bind().dialect.name)
    if insert is None:
        raise DatabaseError("alerts need SQLite or PostgreSQL")
    statement = insert(table).values(rows).on_conflict_do_nothing(index_elements=list(keys))
    return len(session.execute(statement.returning(table.c.id)).all())


def create_alerts(session: Session, *, now: datetime | None = None) -> int:
    """Make the Alert of every alerting transition that has none yet; how many were made (idempotent)."""
    made, after = 0, 0
    while True:
        rows = session.execute(
            select(StatusTransition, Source, Collection)
            .join(Source, Source.id == StatusTransition.source_id)
            .join(Collection, Collection.id == Source.collection_id)
            .where(StatusTransition.id > after, alerting(),
                   ~exists().where(Alert.transition_id == StatusTransition.id))
            .order_by(StatusTransition.id).limit(BATCH)).all()
        if not rows:
            return made
        created_at = now or utcnow()
        values = [{"source_id": source.id, "transition_id": transition.id, "kind": transition.kind,
                   "created_at": created_at, "payload": transition_payload(session, transition, source, collection),
                   "state": PENDING, "next_attempt_at": None}
                  for transition, source, collection in rows]
        made += insert_new(session, Alert.__table__, values, ["transition_id"])
        after = rows[-1][0].id
