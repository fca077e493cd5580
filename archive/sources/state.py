"""The one writer of a source's status (and of a video's availability): applies what was decided to the rows.

Roles: archive.status.machine *decides* (pure: a state and an outcome in, the new state out); this module
*writes* the decision to Source and records its StatusTransition with the evidence it rests on; the callers
*drive* it - archive.watch.record for checks, archive.captures for the crawl's first proof of life - so every
change of Source.status goes through here. Video.availability is written here too (`note_availability`), by
the crawl's metadata and by the checks alike, in one vocabulary (archive.vocab.VideoAvailability).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from archive.models import Source, StatusTransition, Video
from archive.status import Decision, Outcome, SourceState, WatchPolicy, decide
from archive.vocab import VIDEO_VERDICTS, SourceStatus, VideoAvailability


def state_of(source: Source) -> SourceState:
    """What decide() needs, from the source's stored columns."""
    return SourceState(status=source.status, reason=source.status_reason, streak_outcome=source.streak_outcome,
                       streak_count=source.streak_count or 0, streak_started_at=source.streak_started_at,
                       last_seen_alive_at=source.last_seen_alive_at, vanished_at=source.vanished_at)


def write_decision(source: Source, decision: Decision, at: datetime) -> None:
    """Move the source's stored state to the decision's new state (the transition is recorded separately)."""
    state = decision.new_state
    if state.status.value != source.status:
        source.status_changed_at = at
    if state.last_seen_alive_at == at and source.first_seen_at is None:
        source.first_seen_at = at
    source.status = state.status.value
    source.status_reason = state.reason
    source.last_seen_alive_at = state.last_seen_alive_at
    source.vanished_at = state.vanished_at
    source.streak_outcome = state.streak_outcome.value if state.streak_outcome else None
    source.streak_count = state.streak_count
    source.streak_started_at = state.streak_started_at


def transition_values(source: Any, decision: Decision, evidence: list[dict[str, Any]]) -> dict[str, Any]:
    """The StatusTransition columns of a decision that has one."""
    transition = decision.transition
    assert transition is not None, "only a decision with a transition has a row"
    return {"source_id": source.id, "at": transition.at, "kind": transition.kind.value,
            "from_status": transition.from_status.value, "to_status": transition.to_status.value,
            "reason": transition.reason, "evidence": evidence}


def transition_row(source: Source, decision: Decision, evidence: list[dict[str, Any]]) -> StatusTransition:
    """The StatusTransition row of a decision that has one, added to nothing yet."""
    return StatusTransition(**transition_values(source, decision, evidence))


# The columns proof of life may change (write_decision's, for a new source becoming alive).
_ALIVE_COLUMNS = ("status", "status_reason", "status_changed_at", "first_seen_at", "last_seen_alive_at",
                  "vanished_at", "streak_outcome", "streak_count", "streak_started_at")
_ID_BATCH = 500  # ids per IN (...) query


def _seen_alive(source: Any, captured_at: datetime, evidence: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Apply one proof of life to the source's columns (any object with them); its transition's columns, if any.

    A new source goes through the status machine like an ok check, so its move to `alive` is recorded with
    the capture as evidence. Any other status is the checks' to change: a capture only says when the source
    was last seen alive.
    """
    source.first_seen_at = source.first_seen_at or captured_at
    if source.status != SourceStatus.NEW:
        if source.last_seen_alive_at is None or source.last_seen_alive_at < captured_at:
            source.last_seen_alive_at = captured_at
        return None
    decision = decide(state_of(source), Outcome.OK, captured_at, WatchPolicy())
    write_decision(source, decision, captured_at)
    if decision.transition is None:
        return None
    return transition_values(source, decision, evidence)


def seen_alive(session: Session, seen: Mapping[int, tuple[datetime, list[dict[str, Any]]]]) -> None:
    """Good captures are proof of life: first and last seen alive; a new source becomes alive.

    `seen` maps source ids to (capture time, evidence). Many at once, as a crawl stores a file of captures:
    the columns are read and written with one statement per batch and per set of changed columns (no ORM
    objects), the transitions inserted with one executemany.
    """
    table = Source.__table__
    ids = list(seen)
    for start in range(0, len(ids), _ID_BATCH):
        rows = session.execute(select(Source.id, *(getattr(Source, name) for name in _ALIVE_COLUMNS))
                               .where(Source.id.in_(ids[start:start + _ID_BATCH])))
        changes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        transitions = []
        for row in rows:
            before = row._asdict()
            source = SimpleNamespace(**before)
            transition = _seen_alive(source, *seen[row.id])
            if transition is not None:
                transitions.append(transition)
            changed = tuple(name for name in _ALIVE_COLUMNS if getattr(source, name) != before[name])
            if changed:
                changes.setdefault(changed, []).append({"_id": row.id, **{name: getattr(source, name)
                                                                         for name in changed}})
        for changed, values in changes.items():
            session.execute(update(table).where(table.c.id == bindparam("_id"))
                            .values({name: bindparam(name) for name in changed}), values)
        if transitions:
            session.execute(insert(StatusTransition), transitions)


_AVAILABILITY_WORDS = frozenset(word.value for word in VideoAvailability)


def note_availability(session: Session, source_id: int, said: str | None) -> None:
    """What a provider said of a video, kept as its availability: a word of VideoAvailability replaces it, a
    plain ok (or changed) after a verdict makes it public again, anything else (nothing said, a transient
    failure, a page-only outcome) leaves it as it was."""
    if said in (Outcome.OK, Outcome.CHANGED):
        session.execute(update(Video).where(Video.source_id == source_id,
                                            Video.availability.in_([verdict.value for verdict in VIDEO_VERDICTS]))
                        .values(availability=VideoAvailability.PUBLIC.value))
    elif said in _AVAILABILITY_WORDS:
        session.execute(update(Video).where(Video.source_id == source_id)
                        .values(availability=VideoAvailability(said).value))
