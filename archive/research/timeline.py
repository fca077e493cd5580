"""What was online when: a source's intervals of alive / vanished / returned / could-not-tell, overall (from its
status transitions) and per region (from that region's checks), when it was first known online and from where,
and the state of a whole collection at one moment.

Pure: facts in (archive.research.facts), answers out. "As of" a moment is what is known now of that moment:
transitions, checks and copies up to it, and evidence dated before it (a publication date read later counts).
Before our first verdict a source is `unknown` once anything shows it existed (its upload or publication date, a
Wayback memento, the moment it was added) and `not_yet_known` before that: a video uploaded before we watched it
was probably online, but lastseen never says so without evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from archive.research.facts import DEFAULT_REGION, CheckFact, Evidence, SourceFacts, TransitionFact
from archive.status.outcomes import ALIVE, DEFINITIVE, Outcome
from archive.timefmt import iso
from archive.vocab import SourceStatus

ONLINE, VANISHED, RETURNED, UNKNOWN, NOT_YET = "alive", "vanished", "returned", "unknown", "not_yet_known"
GEO_BLOCKED = SourceStatus.GEO_BLOCKED.value
# The groups of a collection's state at a moment, in the order they are printed.
GROUPS = ("online", "vanished", "unknown", "not_yet_known")
_GROUP_OF = {ONLINE: "online", RETURNED: "online", GEO_BLOCKED: "online", VANISHED: "vanished", UNKNOWN: "unknown",
             NOT_YET: "not_yet_known"}
# A source's status, as a timeline state: a status that says nothing (new, unreachable) is "could not tell".
_STATE_OF_STATUS = {SourceStatus.ALIVE: ONLINE, SourceStatus.RETURNED: RETURNED, SourceStatus.VANISHED: VANISHED,
                    SourceStatus.GEO_BLOCKED: GEO_BLOCKED}


@dataclass(frozen=True)
class Interval:
    """A stretch of time in one state; `end` None: still so at the moment asked about."""

    state: str
    start: datetime
    end: datetime | None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "start": iso(self.start), "end": iso(self.end), "reason": self.reason}


def parse_moment(text: str) -> datetime:
    """--as-of / ?as_of=: a day (00:00 UTC), an ISO time (no zone: UTC) or a 14-digit timestamp; ValueError
    with one line saying what is accepted."""
    value = text.strip()
    try:
        if len(value) == 14 and value.isdigit():
            return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # overflow: a time zone pushing 0001-01-01 or 9999-12-31 out of range
        raise ValueError(f"not a date or time: {text[:40]!r} (give 2026-01-05, 2026-01-05T12:00Z or "
                         f"20260105120000)") from None


def _merged(pieces: Iterable[tuple[datetime, str, str | None]], until: datetime) -> list[Interval]:
    """(start, state, reason) in time order, up to `until`, as intervals; a repeat of the same state adds none."""
    out: list[Interval] = []
    for start, state, reason in pieces:
        if start > until:
            break
        if out and out[-1].state == state:
            continue
        if out:
            out[-1] = Interval(out[-1].state, out[-1].start, start, out[-1].reason)
        out.append(Interval(state, start, None, reason))
    return out


def status_intervals(transitions: Iterable[TransitionFact], until: datetime) -> list[Interval]:
    """The overall intervals, from the status transitions recorded up to `until`."""
    return _merged(((t.at, _STATE_OF_STATUS.get(t.to_status, UNKNOWN), t.reason) for t in transitions), until)


def _region_state(outcome: str, was_vanished: bool) -> str:
    """What one check says, for its region's lane: transient failures say nothing."""
    try:
        value = Outcome(outcome)
    except ValueError:
        return UNKNOWN
    if value in ALIVE:
        return RETURNED if was_vanished else ONLINE
    return VANISHED if value in DEFINITIVE else UNKNOWN


def region_intervals(checks: Iterable[CheckFact], until: datetime) -> dict[str, list[Interval]]:
    """Each region's intervals from its own checks up to `until` (what that region saw, unconfirmed)."""
    pieces: dict[str, list[tuple[datetime, str, str | None]]] = {}
    vanished: set[str] = set()
    for check in checks:
        if check.at > until:
            break
        state = _region_state(check.outcome, check.region in vanished)
        if state == VANISHED:
            vanished.add(check.region)
        pieces.setdefault(check.region, []).append((check.at, state, check.outcome))
    return {region: _merged(items, until) for region, items in sorted(pieces.items())}


def first_known(evidence: Iterable[Evidence], until: datetime) -> Evidence | None:
    """The earliest evidence of the source being online, among what was known by `until`."""
    known = [item for item in evidence if item.at <= until]
    return min(known, key=lambda item: item.at) if known else None


def state_at(facts: SourceFacts, moment: datetime) -> tuple[str, str | None, datetime | None]:
    """(state, reason, since) of a source at a moment."""
    intervals = status_intervals(facts.transitions, moment)
    if intervals:
        last = intervals[-1]
        return last.state, last.reason, last.start
    known = first_known(facts.evidence, moment)
    starts = [at for at in (known.at if known else None, facts.added_at) if at is not None and at <= moment]
    return (UNKNOWN, None, min(starts)) if starts else (NOT_YET, None, None)


def source_timeline(facts: SourceFacts, moment: datetime) -> dict[str, Any]:
    """A source's timeline as known at `moment`: its state then, its intervals, events, first known and copies."""
    state, reason, since = state_at(facts, moment)
    regions = region_intervals(facts.checks, moment)
    known = first_known(facts.evidence, moment)
    copies = [copy for copy in facts.copies if copy.at <= moment]
    captures = [copy for copy in copies if copy.kind == "capture"]
    return {
        "id": facts.id, "url": facts.url, "kind": facts.kind, "title": facts.title,
        "state": state, "reason": reason, "since": iso(since),
        "regions": {region: lane[-1].state for region, lane in regions.items()},
        "first_known": None if known is None else {"at": iso(known.at), "from": known.origin,
                                                   "value": known.value, "day_only": known.day_only},
        "known_from": [{"at": iso(e.at), "from": e.origin, "value": e.value, "day_only": e.day_only}
                       for e in facts.evidence if e.at <= moment],
        "intervals": [interval.as_dict() for interval in status_intervals(facts.transitions, moment)],
        "region_intervals": {region: [i.as_dict() for i in lane] for region, lane in regions.items()},
        "events": [{"at": iso(t.at), "kind": t.kind, "from": t.from_status, "to": t.to_status,
                    "reason": t.reason} for t in facts.transitions if t.at <= moment],
        "copies": {"captures": len(captures),
                   "first_capture_at": iso(captures[0].at) if captures else None,
                   "last_capture_at": iso(captures[-1].at) if captures else None,
                   "last_capture_id": int(captures[-1].ref) if captures else None,
                   "wayback": [{"at": iso(c.at), "url": c.ref} for c in copies if c.kind == "wayback"]},
    }


def collection_timeline(name: str, sources: Iterable[SourceFacts], moment: datetime) -> dict[str, Any]:
    """A collection at a moment: every source's timeline, and which were online, vanished, could not be told
    or not yet known then (URLs, in source order)."""
    timelines = [source_timeline(facts, moment) for facts in sources]
    groups: dict[str, list[str]] = {group: [] for group in GROUPS}
    for item in timelines:
        groups[_GROUP_OF[item["state"]]].append(item["url"])
    return {"collection": name, "as_of": iso(moment), "counts": {g: len(urls) for g, urls in groups.items()},
            **groups, "sources": timelines}


def regions_text(regions: dict[str, str]) -> str:
    """'default=alive;kz=vanished', for a CSV cell or a line; empty for a source checked from one region only."""
    if set(regions) <= {DEFAULT_REGION}:
        return ""
    return ";".join(f"{region}={state}" for region, state in regions.items())
