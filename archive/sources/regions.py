"""The regions a source is checked from and what each said: for the checks' writer, `status`, the API and dashboard.

A region is stored on each check (Check.region) as the worker's ``--region``; the unnamed region, ``default``,
is stored as NULL, so every check made before regions existed belongs to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from archive.models import Check, Collection, Source
from archive.status import DEFAULT_REGION, RegionCheck
from archive.timefmt import iso

_IN_BATCH = 500


def stored_region(region: str | None) -> str | None:
    """The Check.region value of a region name (None for the unnamed one)."""
    return None if not region or region == DEFAULT_REGION else region


def region_of(stored: str | None) -> str:
    """The region name of a Check.region value."""
    return stored or DEFAULT_REGION


def in_region(region: str) -> ColumnElement[bool]:
    """SQL condition: the check was made from this region."""
    value = stored_region(region)
    return Check.region.is_(None) if value is None else Check.region == value


def collection_regions(collection: Collection) -> tuple[str, ...]:
    """The regions a collection asks for (empty: checked from anywhere, as one region)."""
    return tuple(collection.regions or ())


def source_regions(session: Session, source_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The sources among these whose collection asks for regions, with those regions."""
    asked = {cid: tuple(regions) for cid, regions in session.execute(select(Collection.id, Collection.regions))
             if regions}
    if not asked:
        return {}
    out: dict[int, tuple[str, ...]] = {}
    for start in range(0, len(source_ids), _IN_BATCH):
        rows = session.execute(select(Source.id, Source.collection_id).where(
            Source.id.in_(source_ids[start:start + _IN_BATCH]), Source.collection_id.in_(list(asked))))
        out.update((source_id, asked[collection_id]) for source_id, collection_id in rows)
    return out


def recent_checks(session: Session, source_ids: Sequence[int], since: datetime) -> dict[int, list[RegionCheck]]:
    """Each source's checks since `since`, as its regions saw them."""
    out: dict[int, list[RegionCheck]] = {source_id: [] for source_id in source_ids}
    for start in range(0, len(source_ids), _IN_BATCH):
        rows = session.execute(select(Check.id, Check.source_id, Check.region, Check.outcome, Check.checked_at,
                                      Check.http_status, Check.detail)
                               .where(Check.source_id.in_(source_ids[start:start + _IN_BATCH]),
                                      Check.checked_at >= since))
        for check_id, source_id, region, outcome, at, http_status, detail in rows:
            out[source_id].append(RegionCheck(region_of(region), outcome, at, check_id, http_status, detail or ""))
    return out


def latest_by_region(session: Session, source: Source) -> list[dict[str, Any]]:
    """What each of its collection's regions said at its latest check (None before its first)."""
    rows = []
    for region in collection_regions(source.collection):
        check = session.scalar(select(Check).where(Check.source_id == source.id, in_region(region))
                               .order_by(Check.checked_at.desc(), Check.id.desc()).limit(1))
        rows.append({"region": region, "outcome": check.outcome if check else None,
                     "http_status": check.http_status if check else None,
                     "checked_at": iso(check.checked_at) if check else None,
                     "detail": check.detail if check else None, "check_id": check.id if check else None})
    return rows
