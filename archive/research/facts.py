"""What the timeline is built from: a source's transitions, checks, first-known evidence and copies, as plain data.

The database (archive.research.loading) and a WACZ's records (archive.research.records) both give these, so a
timeline rebuilt from an exported WACZ with no database is computed by the same code as the live one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from archive.timefmt import iso

DEFAULT_REGION = "default"  # checks made by workers started without --region (archive.status.regions)

# Where a first-known moment came from, in the words the timeline prints.
UPLOAD_DATE, PUBLISHED, WAYBACK, CAPTURE = "upload_date", "published", "wayback", "capture"


@dataclass(frozen=True)
class TransitionFact:
    """A status change of a source (StatusTransition)."""

    at: datetime
    kind: str
    from_status: str
    to_status: str
    reason: str | None = None


@dataclass(frozen=True)
class CheckFact:
    """One check: when, what it found, from which region."""

    at: datetime
    outcome: str
    region: str = DEFAULT_REGION


@dataclass(frozen=True)
class Evidence:
    """A moment the source is known to have been online by, and where that knowledge came from."""

    at: datetime
    origin: str  # UPLOAD_DATE, PUBLISHED, WAYBACK or CAPTURE
    value: str  # as the origin gave it: "2026-01-05", a 14-digit memento timestamp, a capture's id
    day_only: bool = False  # the origin gives a day, no time: `at` is 00:00 UTC of it


@dataclass(frozen=True)
class Copy:
    """An archived copy: one of our captures, or a memento in a Wayback archive."""

    at: datetime
    kind: str  # "capture" or "wayback"
    ref: str  # the capture's id, or the memento's URL


@dataclass
class SourceFacts:
    """Everything the timeline of one source needs, in time order."""

    id: int
    url: str
    kind: str
    title: str | None
    added_at: datetime | None
    transitions: list[TransitionFact] = field(default_factory=list)
    checks: list[CheckFact] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)

    def sort(self) -> SourceFacts:
        """Put every list in time order (ties keep the order given: the database's id order)."""
        for items in (self.transitions, self.checks, self.evidence, self.copies):
            items.sort(key=lambda item: item.at)
        return self

    def head(self) -> dict[str, Any]:
        """The source's own line of the WACZ's records/sources.jsonl (transitions and checks have their files)."""
        return {"source_id": self.id, "url": self.url, "kind": self.kind, "title": self.title,
                "added_at": iso(self.added_at),
                "evidence": [{"at": iso(e.at), "origin": e.origin, "value": e.value, "day_only": e.day_only}
                             for e in self.evidence],
                "copies": [{"at": iso(c.at), "kind": c.kind, "ref": c.ref} for c in self.copies]}

    @classmethod
    def from_head(cls, line: dict[str, Any]) -> SourceFacts:
        """The inverse of head(): a source from its records/sources.jsonl line."""
        return cls(id=int(line["source_id"]), url=line["url"], kind=line["kind"], title=line.get("title"),
                   added_at=parse_iso(line.get("added_at")),
                   evidence=[Evidence(parse_iso(e["at"]), e["origin"], e["value"], bool(e.get("day_only")))
                             for e in line.get("evidence", [])],
                   copies=[Copy(parse_iso(c["at"]), c["kind"], c["ref"]) for c in line.get("copies", [])])


def parse_iso(value: str | None) -> Any:
    """A stored ISO time back to an aware UTC datetime (None stays None)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def day_or_time(value: str | None) -> tuple[datetime, bool] | None:
    """A date or time as pages and providers write it ("2026-01-05", "20260105", ISO with or without zone) as
    (UTC moment, whether only a day was given); None for what is not a date (pages write garbage too)."""
    text = (value or "").strip()
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC), True
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC), False


def memento_time(timestamp: str | None) -> datetime | None:
    """A Wayback 14-digit timestamp (a shorter one: its first moment) as UTC; None when it is not one."""
    digits = (timestamp or "").strip()
    if not digits.isdigit() or not 4 <= len(digits) <= 14:
        return None
    digits += "0101000000"[len(digits) - 4:]  # a year or a month alone: its first day
    try:
        return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
