"""Running counts kept by the database: the `tally` rows its triggers add (migration 0012), summed on reading.

Sources by collection and status, checks by outcome, captures by record type and status class, a collection's
vanishings by day, without counting millions of rows. The rows of one count pile up as +n/-n; a reader that
finds many folds them into one per key.
"""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from archive.models import Tally

SOURCES, CHECKS, CAPTURES, VANISHINGS = "sources", "checks", "captures", "vanishings"
FOLD_AFTER = 1000  # rows beyond one per key a tally may hold before a reader folds it

logger = logging.getLogger("lastseen.tally")


def tally(session: Session, name: str, collection_id: int | None = None) -> dict[tuple[int | None, str], int]:
    """One tally's counts (of one collection, or all) by (collection id, key), zeros left out; its rows folded
    when they have piled up."""
    query = select(Tally.collection_id, Tally.key, func.sum(Tally.n), func.count()).where(Tally.name == name)
    if collection_id is not None:
        query = query.where(Tally.collection_id == collection_id)
    rows = session.execute(query.group_by(Tally.collection_id, Tally.key)).all()
    if sum(count for *_, count in rows) > len(rows) + FOLD_AFTER:
        fold_apart(session, name)
    return {(collection_id, key): int(total) for collection_id, key, total, _ in rows if total}


def by_key(session: Session, name: str) -> dict[str, int]:
    """One tally's counts by key, over all collections."""
    out: Counter[str] = Counter()
    for (_, key), count in tally(session, name).items():
        out[key] += count
    return {key: count for key, count in out.items() if count}


def fold(session: Session, name: str) -> None:
    """Replace a tally's rows by one per (collection, key) holding their sum; rows added meanwhile stay as they are.

    One DELETE ... RETURNING: exactly the rows it removes are summed, whatever writers do meanwhile.
    """
    removed = session.execute(delete(Tally).where(Tally.name == name)
                              .returning(Tally.collection_id, Tally.key, Tally.n)).all()
    sums: Counter[tuple[int | None, str]] = Counter()
    for collection_id, key, n in removed:
        sums[(collection_id, key)] += n
    rows = [{"name": name, "collection_id": c, "key": k, "n": n} for (c, k), n in sums.items() if n]
    if rows:
        session.execute(insert(Tally), rows)


def fold_apart(session: Session, name: str) -> None:
    """fold() in a transaction of its own, so a reader never turns into a writer; skipped when the database is busy."""
    try:
        with Session(session.get_bind()) as own, own.begin():
            fold(own, name)
    except DBAPIError as exc:
        logger.warning("tally %s not folded now: %s", name, str(exc).splitlines()[0])
