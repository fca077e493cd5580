"""What one check can find, and how much each finding says.

Outcomes of one check fall in three classes:

* DEFINITIVE - the site says the thing is gone: gone, removed, private, account_terminated, geo_blocked,
  soft_404, redirected_away.
* TRANSIENT - we could not find out: dns_error, connection_error, timeout, server_error, blocked.
* ALIVE - it is there: ok, changed, age_restricted (age-gated content is still available).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What one check found."""

    OK = "ok"
    GONE = "gone"
    REMOVED = "removed"
    PRIVATE = "private"
    ACCOUNT_TERMINATED = "account_terminated"
    GEO_BLOCKED = "geo_blocked"
    AGE_RESTRICTED = "age_restricted"
    SOFT_404 = "soft_404"
    REDIRECTED_AWAY = "redirected_away"
    DNS_ERROR = "dns_error"
    CONNECTION_ERROR = "connection_error"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    BLOCKED = "blocked"
    CHANGED = "changed"


class OutcomeClass(StrEnum):
    """How much one outcome says."""

    DEFINITIVE = "definitive"
    TRANSIENT = "transient"
    ALIVE = "alive"


DEFINITIVE = frozenset({Outcome.GONE, Outcome.REMOVED, Outcome.PRIVATE, Outcome.ACCOUNT_TERMINATED,
                        Outcome.GEO_BLOCKED, Outcome.SOFT_404, Outcome.REDIRECTED_AWAY})
TRANSIENT = frozenset({Outcome.DNS_ERROR, Outcome.CONNECTION_ERROR, Outcome.TIMEOUT, Outcome.SERVER_ERROR,
                       Outcome.BLOCKED})
ALIVE = frozenset({Outcome.OK, Outcome.CHANGED, Outcome.AGE_RESTRICTED})


def outcome_class(outcome: str) -> OutcomeClass:
    """definitive, transient or alive; ValueError for a word that is not an outcome."""
    value = Outcome(outcome)
    if value in DEFINITIVE:
        return OutcomeClass.DEFINITIVE
    if value in TRANSIENT:
        return OutcomeClass.TRANSIENT
    return OutcomeClass.ALIVE


@dataclass(frozen=True)
class Classification:
    """One check's outcome and a short line saying what showed it."""

    outcome: Outcome
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))

    @property
    def outcome_class(self) -> OutcomeClass:
        return outcome_class(self.outcome)
