"""Lists of statuses shown to people and scripts come from archive.vocab's enum, never copied: the API's accepted
(and documented) statuses and the dashboard's count cards name every status, in the enum's words."""

from __future__ import annotations

from typing import Any, get_args

from archive.api.html import CollectionView, collection_page
from archive.api.schemas import Kind, Status
from archive.config import Settings
from archive.models import Collection
from archive.vocab import SourceKind, SourceStatus


def _enums(openapi: dict[str, Any], name: str) -> list[list[str]]:
    """The enum of every query parameter called name, in every operation of the document."""
    found = []
    for operations in openapi["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == name:
                    found += [option["enum"] for option in parameter["schema"]["anyOf"] if "enum" in option]
    return found


def test_the_api_accepts_and_documents_every_status(settings: Settings) -> None:
    from archive.api import create_app

    assert get_args(Status) == tuple(SourceStatus) and get_args(Kind) == tuple(SourceKind)
    openapi = create_app(settings).openapi()
    statuses, kinds = _enums(openapi, "status"), _enums(openapi, "kind")
    assert len(statuses) == 2 and all(found == [s.value for s in SourceStatus] for found in statuses)
    assert len(kinds) == 2 and all(found == [k.value for k in SourceKind] for found in kinds)


def test_the_dashboard_has_a_card_for_every_status() -> None:
    counts = {"by_status": {status.value: number for number, status in enumerate(SourceStatus, 11)}, "sources": 99}
    page = collection_page(CollectionView(collection=Collection(name="c", public_read=False), counts=counts,
                                          status=None, vanishings={}, sources=[], more=False, captures={},
                                          wayback={}))
    for status, number in counts["by_status"].items():
        assert f"<div class='count' id='count-{status}'><b>{number}</b>" in page, f"no card for {status}"
