"""The status machine: what a run of checks means for a source's status, and which transitions to record.

Who changes a source's status, in three roles: this module *decides* (pure: decide() takes the stored state
and one outcome, and gives the new state and the transition, if any); archive.sources.state *writes* the
decision (the one writer of Source.status and StatusTransition); archive.watch.record *drives* it for checks,
and archive.captures for the crawl's proof of life.

* Definitive outcomes must come ``confirm_checks`` times in a row; different definitive reasons in a row
  all count. The reason recorded is the most specific one seen in the run (account_terminated > removed >
  private > geo_blocked > gone > soft_404 > redirected_away): a provider's own words beat a bare 404,
  which beats our heuristics.
* Transient outcomes must come ``transient_checks`` times in a row spanning ``transient_span``; the reason
  is the latest one. Any outcome of another class ends a run, so definitive, transient, definitive is two
  runs of one, never a vanishing.
* ``returned`` says "vanished once, came back": it stays until the source vanishes again (a later ok keeps
  it, and so does coming back from ``unreachable``). ``vanished_at`` keeps the time of the last vanishing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archive.errors import UsageError
from archive.status.outcomes import TRANSIENT, Outcome, OutcomeClass, outcome_class
from archive.vocab import SourceStatus, TransitionKind

# The transitions that raise an alert.
ALERT_KINDS = frozenset({TransitionKind.VANISHED, TransitionKind.RETURNED, TransitionKind.CHANGED})

# Vanished everywhere, or in some regions (archive.status.regions): an alive answer is a return.
_GONE = frozenset({SourceStatus.VANISHED, SourceStatus.GEO_BLOCKED})
# Most specific first: the reason a vanishing is recorded with when a run mixes definitive outcomes.
_SPECIFICITY = (Outcome.ACCOUNT_TERMINATED, Outcome.REMOVED, Outcome.PRIVATE, Outcome.GEO_BLOCKED, Outcome.GONE,
                Outcome.SOFT_404, Outcome.REDIRECTED_AWAY)


@dataclass(frozen=True)
class WatchPolicy:
    """How much evidence a vanishing needs."""

    confirm_checks: int = 2
    confirm_delay: timedelta = timedelta(hours=1)
    transient_checks: int = 3
    transient_span: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.confirm_checks < 1 or self.transient_checks < 1:
            raise ValueError("confirm_checks and transient_checks must be at least 1")
        if self.confirm_delay < timedelta(0) or self.transient_span < timedelta(0):
            raise ValueError("confirm_delay and transient_span must not be negative")

    @classmethod
    def from_settings(cls, settings: Any) -> WatchPolicy:
        """From archive.config.Settings (confirm_checks, confirm_delay, transient_checks, transient_span).

        Values out of range are a bad setting: a UsageError, one line for the user.
        """
        try:
            return cls(
                confirm_checks=int(settings.confirm_checks),
                confirm_delay=timedelta(seconds=int(settings.confirm_delay)),
                transient_checks=int(settings.transient_checks),
                transient_span=timedelta(seconds=int(settings.transient_span)),
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None


@dataclass(frozen=True)
class SourceState:
    """What decide() needs to know of a source; SourceState() is a source never checked.

    streak_*: the current run of checks of one class (definitive or transient) with no other outcome in
    between. streak_outcome names the run: the reason a definitive run would vanish with (most specific so
    far), or the latest transient outcome. Persist streak_outcome (Source.streak_outcome); the class follows
    from it.
    """

    status: SourceStatus = SourceStatus.NEW
    reason: str | None = None
    streak_outcome_class: OutcomeClass | None = None
    streak_count: int = 0
    streak_started_at: datetime | None = None
    last_seen_alive_at: datetime | None = None
    vanished_at: datetime | None = None
    streak_outcome: Outcome | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", SourceStatus(self.status))
        if self.streak_outcome is not None:  # the stored outcome decides the class
            object.__setattr__(self, "streak_outcome", Outcome(self.streak_outcome))
            object.__setattr__(self, "streak_outcome_class", outcome_class(self.streak_outcome))
        if self.streak_outcome_class is not None:
            value = OutcomeClass(self.streak_outcome_class)
            if value is OutcomeClass.ALIVE:
                value = None
            object.__setattr__(self, "streak_outcome_class", value)
        if self.streak_outcome_class is None:
            object.__setattr__(self, "streak_count", 0)
            object.__setattr__(self, "streak_started_at", None)
            object.__setattr__(self, "streak_outcome", None)


@dataclass(frozen=True)
class Transition:
    """A change of status worth recording; `alerts` says whether it raises an alert."""

    from_status: SourceStatus
    to_status: SourceStatus
    reason: str | None
    at: datetime
    kind: TransitionKind

    @property
    def alerts(self) -> bool:
        return self.kind in ALERT_KINDS


@dataclass(frozen=True)
class Decision:
    """The state after a check, the transition to record (if any), and when to check again.

    next_check_in: check again no later than this (a confirming check brought forward); None means the
    regular schedule.
    """

    new_state: SourceState
    transition: Transition | None
    next_check_in: timedelta | None


def _more_specific(a: Outcome, b: Outcome) -> Outcome:
    """The more specific of two definitive outcomes (the one a vanishing is better recorded with)."""
    return a if _SPECIFICITY.index(a) <= _SPECIFICITY.index(b) else b


def decide(state: SourceState, outcome: str, at: datetime, policy: WatchPolicy) -> Decision:
    """Apply one check's outcome to a source's state."""
    value = Outcome(outcome)
    kind = outcome_class(value)
    if kind is OutcomeClass.ALIVE:
        return _decide_alive(state, value, at)
    if kind is OutcomeClass.DEFINITIVE:
        return _decide_definitive(state, value, at, policy)
    return _decide_transient(state, value, at, policy)


def _decide_alive(state: SourceState, outcome: Outcome, at: datetime) -> Decision:
    came_back = state.status in _GONE or state.status is SourceStatus.RETURNED or state.vanished_at is not None
    status = SourceStatus.RETURNED if came_back else SourceStatus.ALIVE
    reason = outcome.value if outcome is Outcome.AGE_RESTRICTED else None
    new_state = dataclasses.replace(state, status=status, reason=reason, streak_outcome_class=None,
                                    streak_count=0, streak_started_at=None, streak_outcome=None,
                                    last_seen_alive_at=at)
    transition = None
    if state.status in _GONE:
        transition = Transition(state.status, status, outcome.value, at, TransitionKind.RETURNED)
    elif outcome is Outcome.CHANGED:
        transition = Transition(state.status, status, outcome.value, at, TransitionKind.CHANGED)
    elif state.status != status:
        transition = Transition(state.status, status, outcome.value, at, TransitionKind.ALIVE)
    return Decision(new_state, transition, None)


def _decide_definitive(state: SourceState, outcome: Outcome, at: datetime, policy: WatchPolicy) -> Decision:
    if state.streak_outcome_class is OutcomeClass.DEFINITIVE:
        count = state.streak_count + 1
        started = state.streak_started_at or at
        named = _more_specific(state.streak_outcome or outcome, outcome)
    else:
        count, started, named = 1, at, outcome
    new_state = dataclasses.replace(state, streak_outcome_class=OutcomeClass.DEFINITIVE, streak_count=count,
                                    streak_started_at=started, streak_outcome=named)
    if state.status is SourceStatus.VANISHED:
        if count >= policy.confirm_checks and state.reason in {o.value for o in TRANSIENT}:
            # It vanished as unreachable; now the site says why. Keep the better reason (no new alert).
            new_state = dataclasses.replace(new_state, reason=named.value)
        return Decision(new_state, None, None)
    if count >= policy.confirm_checks:
        new_state = dataclasses.replace(new_state, status=SourceStatus.VANISHED, reason=named.value, vanished_at=at)
        return Decision(new_state, Transition(state.status, SourceStatus.VANISHED, named.value, at,
                                              TransitionKind.VANISHED), None)
    return Decision(new_state, None, policy.confirm_delay)


def _decide_transient(state: SourceState, outcome: Outcome, at: datetime, policy: WatchPolicy) -> Decision:
    if state.streak_outcome_class is OutcomeClass.TRANSIENT:
        count, started = state.streak_count + 1, state.streak_started_at or at
    else:
        count, started = 1, at
    new_state = dataclasses.replace(state, streak_outcome_class=OutcomeClass.TRANSIENT, streak_count=count,
                                    streak_started_at=started, streak_outcome=outcome)
    if state.status is SourceStatus.VANISHED:
        return Decision(new_state, None, None)
    elapsed = at - started
    if count >= policy.transient_checks and elapsed >= policy.transient_span:
        new_state = dataclasses.replace(new_state, status=SourceStatus.VANISHED, reason=outcome.value,
                                        vanished_at=at)
        return Decision(new_state, Transition(state.status, SourceStatus.VANISHED, outcome.value, at,
                                              TransitionKind.VANISHED), None)
    new_state = dataclasses.replace(new_state, status=SourceStatus.UNREACHABLE, reason=outcome.value)
    transition = None
    if state.status is not SourceStatus.UNREACHABLE:
        transition = Transition(state.status, SourceStatus.UNREACHABLE, outcome.value, at,
                                TransitionKind.UNREACHABLE)
    # Spread the checks still needed over the time still needed, but no closer than confirm_delay.
    remaining_checks = policy.transient_checks - count
    remaining_time = policy.transient_span - elapsed
    if remaining_checks > 0:
        wait = remaining_time / remaining_checks if remaining_time > timedelta(0) else timedelta(0)
    else:
        wait = remaining_time
    return Decision(new_state, transition, max(wait, policy.confirm_delay))
