"""Checks from several regions: what each region's latest answers say together, and the status they make.

A collection may ask for its sources to be checked from several regions (workers started with ``--region``,
each behind its own egress). The recent checks of every region go in, newest first; out comes one verdict:

* alive in at least one region and refused for geography in another (geo_blocked: HTTP 451, a "not available
  in your country" page, a provider's own words), that refusal seen ``confirm_checks`` times in a row there:
  the source is ``geo_blocked``, and the verdict names where it answers and where it is refused;
* alive somewhere and not confirmed refused anywhere: alive (a 404 in one region while another gets the page
  is a cache or a regional hiccup, not a vanishing);
* refused for geography here while another region has not answered yet: wait for it, at most one check past
  the confirmation, so the order in which the regions' workers report does not decide the status;
* otherwise the check goes through the status machine as it would from one region.

A region's transient failures (timeouts, 5xx) do not erase what it said before; answers older than the window
(the source's check interval) say nothing. Pure: no network, no database. The unnamed region of workers
started without ``--region`` (and of checks made before regions existed) is ``default``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archive.status.machine import Decision, SourceState, Transition, WatchPolicy, decide
from archive.status.outcomes import ALIVE, TRANSIENT, Outcome
from archive.timefmt import iso
from archive.vocab import SourceStatus, TransitionKind

DEFAULT_REGION = "default"
MAX_REGIONS = 16
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")  # region names go into queue names: kept plain and short


def region_names(value: str | Iterable[str]) -> tuple[str, ...]:
    """Region names from "default,kz" or a list (lower-cased, deduplicated, in order); ValueError for a bad one."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(dict.fromkeys(item.strip().lower() for item in items if item.strip()))
    bad = [name for name in names if not _NAME.fullmatch(name)]
    if bad:
        raise ValueError(f"region names are 1-32 letters, digits and '-': not {bad[0]!r}")
    if len(names) > MAX_REGIONS:
        raise ValueError(f"at most {MAX_REGIONS} regions")
    return names


@dataclass(frozen=True)
class RegionCheck:
    """One stored check as a region saw it (check_id None: the check being stored now)."""

    region: str
    outcome: Outcome
    at: datetime
    check_id: int | None = None
    http_status: int | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))

    def evidence(self) -> dict[str, Any]:
        """The check as a transition's evidence names it, with its region."""
        return {"check_id": self.check_id, "region": self.region, "outcome": self.outcome.value,
                "at": iso(self.at), "http_status": self.http_status, "detail": self.detail[:300]}


@dataclass(frozen=True)
class RegionVerdict:
    """Where the source answers, where it is refused for geography (confirmed or not yet), who has not answered."""

    alive_in: tuple[RegionCheck, ...] = ()
    refused_in: tuple[RegionCheck, ...] = ()
    pending_in: tuple[RegionCheck, ...] = ()
    unknown: tuple[str, ...] = ()
    refusals: Mapping[str, int] = field(default_factory=dict)  # region -> geo refusals in a row

    @property
    def geo_blocked(self) -> bool:
        """Alive somewhere, confirmed refused elsewhere."""
        return bool(self.alive_in and self.refused_in)

    def evidence(self) -> list[dict[str, Any]]:
        """The checks that show it, one per region, by region name."""
        return [c.evidence() for c in sorted(self.alive_in + self.refused_in, key=lambda c: c.region)]


def combine_regions(regions: Sequence[str], checks: Iterable[RegionCheck], *, since: datetime,
                    confirm: int) -> RegionVerdict:
    """The verdict of each region's checks since `since` (any order); only the named regions count."""
    by_region: dict[str, list[RegionCheck]] = {region: [] for region in regions}
    for check in checks:
        if check.region in by_region and check.at >= since:
            by_region[check.region].append(check)
    alive, refused, pending, unknown, refusals = [], [], [], [], {}
    for region, own in by_region.items():
        said = [c for c in sorted(own, key=lambda c: (c.at, c.check_id or 0), reverse=True)
                if c.outcome not in TRANSIENT]
        if not said:
            unknown.append(region)
            continue
        latest = said[0]
        if latest.outcome in ALIVE:
            alive.append(latest)
        elif latest.outcome is Outcome.GEO_BLOCKED:
            run = next((n for n, c in enumerate(said) if c.outcome is not Outcome.GEO_BLOCKED), len(said))
            refusals[region] = run
            (refused if run >= confirm else pending).append(latest)
    return RegionVerdict(tuple(alive), tuple(refused), tuple(pending), tuple(unknown), refusals)


def decide_regions(state: SourceState, own: RegionCheck, verdict: RegionVerdict, at: datetime,
                   policy: WatchPolicy) -> Decision:
    """Apply one region's check to the source's state, given what every region says (own included)."""
    if verdict.geo_blocked:
        return _geo_blocked(state, verdict, at)
    if own.outcome in ALIVE:
        return decide(state, own.outcome, at, policy)
    if verdict.alive_in:
        decision = decide(state, Outcome.OK, at, policy)  # alive elsewhere: this region's answer moves nothing
        seen = max(c.at for c in verdict.alive_in)
        new_state = dataclasses.replace(decision.new_state, last_seen_alive_at=_later(state.last_seen_alive_at, seen))
        return Decision(new_state, decision.transition, policy.confirm_delay if verdict.pending_in else None)
    if (own.outcome is Outcome.GEO_BLOCKED and verdict.unknown
            and verdict.refusals.get(own.region, 0) <= policy.confirm_checks):
        return Decision(state, None, policy.confirm_delay)  # refused here; the other regions have not answered
    return decide(state, own.outcome, at, policy)


def _later(known: datetime | None, seen: datetime) -> datetime:
    return max(known, seen) if known is not None else seen


def _geo_blocked(state: SourceState, verdict: RegionVerdict, at: datetime) -> Decision:
    """Into (or staying in) geo_blocked: a vanishing where it is refused, named with the regions."""
    seen = _later(state.last_seen_alive_at, max(c.at for c in verdict.alive_in))
    already = state.status is SourceStatus.GEO_BLOCKED
    new_state = dataclasses.replace(state, status=SourceStatus.GEO_BLOCKED, reason=Outcome.GEO_BLOCKED.value,
                                    streak_outcome_class=None, streak_count=0, streak_started_at=None,
                                    streak_outcome=None, last_seen_alive_at=seen,
                                    vanished_at=state.vanished_at if already else at)
    transition = None if already else Transition(state.status, SourceStatus.GEO_BLOCKED, Outcome.GEO_BLOCKED.value,
                                                 at, TransitionKind.VANISHED)
    return Decision(new_state, transition, None)
