"""Recording checks: the Check rows, each source's next check, and its status moved on by what was found.

Who changes a source's status, in three roles: archive.status.machine *decides* (pure: decide() turns a
state and an outcome into the new state and a transition); archive.sources.state *writes* (the one writer of
Source.status and its StatusTransition rows); this module *drives* them for checks - CheckRecorder stores each
check, asks decide() and hands the decision to archive.sources.state (the crawl drives them through
archive.captures).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, lazyload

from archive.db import session_scope
from archive.models import Check, Source
from archive.sources.limits import MAX_INTERVAL
from archive.sources.regions import recent_checks, region_of, source_regions, stored_region
from archive.sources.state import note_availability, state_of, transition_row, write_decision
from archive.status import (
    Decision,
    Outcome,
    RegionCheck,
    RegionVerdict,
    SourceState,
    WatchPolicy,
    combine_regions,
    decide,
    decide_regions,
)
from archive.timefmt import iso
from archive.vocab import TransitionKind
from archive.watch.change import what_changed
from archive.watch.fetch import Validators
from archive.watch.select import Target
from archive.workspace import Workspace

JITTER = 0.1  # the regular next check falls within +-10% of the interval, so checks of a batch spread out


@dataclass
class CheckResult:
    """One check's outcome, before it is stored."""

    source_id: int
    outcome: Outcome
    detail: str
    http_status: int | None = None
    final_url: str | None = None
    latency_ms: float | None = None
    text_sha256: str | None = None  # a `changed` page's new main text hash: the next checks' baseline
    payload_sha256: str | None = None  # or its new bytes' hash, when it has no main text to compare
    validators: Validators | None = None  # an alive page's ETag / Last-Modified, for the next conditional GET
    seen_sha256: str | None = None  # an alive page's body hash: the same bytes next time need no parsing
    text: str | None = None  # a changed page's main text and title: what its alert says changed (not stored)
    title: str | None = None


@dataclass
class CheckSummary:
    """What a run of checks found."""

    started_at: datetime
    finished_at: datetime | None = None
    checked: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    to_capture: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    paused: int = 0  # not checked: their host (HTTP 429) or provider (a bot check) is paused

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `lastseen check --json`."""
        seconds = (self.finished_at - self.started_at).total_seconds() if self.finished_at else None
        return {
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "seconds": round(seconds, 3) if seconds is not None else None,
            "checked": self.checked,
            "paused": self.paused,
            "outcomes": by_count(self.outcomes),
            "statuses": by_count(self.statuses),
            "transition_counts": by_count(Counter(t["kind"] for t in self.transitions)),
            "transitions": self.transitions,
            "to_capture": self.to_capture,
            "errors": self.errors,
        }


def by_count(counts: Counter[str]) -> dict[str, int]:
    """Most frequent first, ties by name: the same run prints the same way."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _evidence(session: Session, source_id: int, state: SourceState, check: Check,
              verdict: RegionVerdict | None) -> list[dict[str, Any]]:
    """The checks a transition rests on: each region's when regions make it geo_blocked, else the whole run of
    definitive or transient outcomes, else this check (with its region when the collection asks for regions)."""
    if verdict is not None and verdict.geo_blocked:
        return [{**item, "check_id": item["check_id"] or check.id} for item in verdict.evidence()]
    checks = [check]
    if state.streak_started_at is not None and state.streak_count > 1:
        checks = list(session.scalars(select(Check).where(Check.source_id == source_id,
                                                          Check.checked_at >= state.streak_started_at)
                                      .order_by(Check.checked_at, Check.id)))
    return [{"check_id": c.id, "outcome": c.outcome, "at": iso(c.checked_at), "http_status": c.http_status,
             **({"region": region_of(c.region)} if verdict is not None else {})} for c in checks]


def _fits(value: str | None, size: int) -> str | None:
    """A validator kept only whole: a cut one would never match."""
    return value if value and len(value) <= size else None


class CheckRecorder:
    """Stores checks in batches: the Check row, decide(), and the decision written through archive.sources.state."""

    def __init__(self, ws: Workspace, policy: WatchPolicy, summary: CheckSummary, targets: Mapping[int, Target],
                 rng: random.Random) -> None:
        self.ws = ws
        self.policy = policy
        self.summary = summary
        self.targets = targets
        self.rng = rng
        self.region = region_of(stored_region(ws.settings.check_region))  # where this process checks from

    def next_check(self, target: Target, at: datetime, bring_forward: timedelta | None) -> datetime:
        """The regular interval with jitter, or sooner when a confirming check is due.

        An interval stored before inputs were bounded counts as MAX_INTERVAL, so the date cannot overflow.
        """
        interval = min(target.interval, MAX_INTERVAL)
        regular = timedelta(seconds=interval * (1 + self.rng.uniform(-JITTER, JITTER)))
        return at + (min(bring_forward, regular) if bring_forward is not None else regular)

    def store(self, results: Sequence[tuple[CheckResult, datetime]]) -> None:
        """Store one batch in one transaction: checks and source states first, then the transitions."""
        if not results:
            return
        with session_scope(self.ws.sessions) as session:
            ids = [result.source_id for result, _ in results]
            regions = source_regions(session, ids)
            if regions:  # regions' workers store checks of one source at once: one after the other, in id order
                session.execute(select(Source.id).where(Source.id.in_(sorted(regions))).order_by(Source.id)
                                .with_for_update())
            sources = {s.id: s for s in session.scalars(select(Source).options(lazyload(Source.tags))
                                                        .where(Source.id.in_(ids)))}
            history = recent_checks(session, list(regions), self._window(results, regions)) if regions else {}
            moved: list[tuple[Source, Check, Decision, RegionVerdict | None]] = []
            plain: list[dict[str, Any]] = []  # checks no transition rests on: one executemany, no ORM objects
            for result, at in results:
                source = sources.get(result.source_id)
                if source is None:
                    continue  # deleted while it was being checked
                verdict = self._verdict(source, result, at, regions.get(source.id, ()), history.get(source.id, []))
                values, decision = self._apply(session, source, result, at, verdict)
                if decision.transition is not None:
                    check = Check(**values)
                    session.add(check)
                    moved.append((source, check, decision, verdict))
                else:
                    plain.append(values)
            if plain:
                session.execute(insert(Check), plain)
            if moved:
                session.flush()  # the checks' ids, for the evidence
                self._record_transitions(session, moved, {r.source_id: r for r, _ in results if r.text})

    def _window(self, results: Sequence[tuple[CheckResult, datetime]], regions: Mapping[int, Any]) -> datetime:
        """Since when the batch's sources of regional collections need their checks: their longest interval."""
        longest = max(min(self.targets[r.source_id].interval, MAX_INTERVAL) for r, _ in results
                      if r.source_id in regions)
        return min(at for _, at in results) - timedelta(seconds=longest)

    def _own(self, result: CheckResult, at: datetime) -> RegionCheck:
        """This check as its region saw it (its id comes once it is stored)."""
        return RegionCheck(self.region, result.outcome, at, None, result.http_status, result.detail)

    def _verdict(self, source: Source, result: CheckResult, at: datetime, regions: tuple[str, ...],
                 history: list[RegionCheck]) -> RegionVerdict | None:
        """What the regions of the source's collection say with this check, when it asks for regions and this
        process checks from one of them."""
        if self.region not in regions:
            return None
        since = at - timedelta(seconds=min(self.targets[source.id].interval, MAX_INTERVAL))
        return combine_regions(regions, [*history, self._own(result, at)], since=since,
                               confirm=self.policy.confirm_checks)

    def _apply(self, session: Session, source: Source, result: CheckResult, at: datetime,
               verdict: RegionVerdict | None = None) -> tuple[dict[str, Any], Decision]:
        """Move the source's state by decide() (decide_regions() with a verdict of regions); the check's row
        values and the decision."""
        if verdict is None:
            decision = decide(state_of(source), result.outcome, at, self.policy)
        else:
            decision = decide_regions(state_of(source), self._own(result, at), verdict, at, self.policy)
        check = {"source_id": source.id, "checked_at": at, "outcome": result.outcome.value,
                 "http_status": result.http_status, "final_url": result.final_url, "detail": result.detail[:4000],
                 "latency_ms": result.latency_ms, "text_sha256": result.text_sha256,
                 "payload_sha256": result.payload_sha256, "region": stored_region(self.region)}
        write_decision(source, decision, at)
        source.last_checked_at = at
        validators = result.validators or Validators()
        source.check_etag = _fits(validators.etag, 512)
        source.check_last_modified = _fits(validators.last_modified, 64)
        source.check_sha256 = result.seen_sha256
        source.next_check_at = self.next_check(self.targets[source.id], at, decision.next_check_in)
        self.summary.checked += 1
        self.summary.outcomes[result.outcome.value] += 1
        self.summary.statuses[source.status] += 1
        if result.outcome is Outcome.CHANGED:
            self.summary.to_capture.append(source.id)
        if source.kind == "video":
            note_availability(session, source.id, result.outcome)
        return check, decision

    def _record_transitions(self, session: Session,
                            moved: Sequence[tuple[Source, Check, Decision, RegionVerdict | None]],
                            changed: Mapping[int, CheckResult]) -> None:
        """One StatusTransition row per transition, with its evidence (a changed page's: what changed), listed
        in the summary."""
        rows = []
        for source, check, decision, verdict in moved:
            evidence = _evidence(session, source.id, decision.new_state, check, verdict)
            seen = changed.get(source.id)
            if seen is not None and decision.transition is not None \
                    and decision.transition.kind is TransitionKind.CHANGED:
                for item in evidence:
                    if item["check_id"] == check.id:
                        item["change"] = what_changed(session, self.ws, source.id, check.checked_at,
                                                      seen.text or "", seen.title)
            row = transition_row(source, decision, evidence)
            session.add(row)
            rows.append((row, source, check, decision.transition is not None and decision.transition.alerts))
        session.flush()
        for row, source, check, alerts in rows:
            self.summary.transitions.append({
                "id": row.id, "source_id": source.id, "url": source.normalized_url, "kind": row.kind,
                "from": row.from_status, "to": row.to_status, "reason": row.reason, "at": iso(row.at),
                "alerts": alerts, "check_id": check.id,
            })
