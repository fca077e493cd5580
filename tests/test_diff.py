"""`lastseen diff`: an edited article's two captures, read back from their WARC records, differ by the edited
sentence; a revisit compares as the response it repeats; bad input is one line."""

from __future__ import annotations

import json
from typing import Any

from archive.config import Settings
from archive.db import session_scope
from archive.models import Capture
from archive.sources import ensure_collection
from archive.warc import RevisitTarget
from archive.workspace import Workspace
from tests.servers.api import add_capture, add_source, at, store_exchange
from tests.test_checker import article

URL = "https://news.example/flood"
FIRST = article("Flood in the valley", "The river rose three metres overnight. The old bridge was closed.",
                "Volunteers filled sandbags at the school until the early morning.")
EDITED = FIRST.replace("three metres", "four metres")


def captured(settings: Settings) -> list[int]:
    """The article captured, captured again unchanged (a revisit), then edited; the capture ids."""
    ws = Workspace(settings)
    try:
        first, first_uri = store_exchange(ws, URL, FIRST.encode(), when=at("2026-03-01T10:00"))
        again, again_uri = store_exchange(ws, URL, FIRST.encode(), when=at("2026-03-02T10:00"),
                                          revisit_of=RevisitTarget(uri=URL, date=first.date,
                                                                   payload_digest=first.payload_digest))
        edited, edited_uri = store_exchange(ws, URL, EDITED.encode(), when=at("2026-03-03T10:00"))
        with session_scope(ws.sessions) as session:
            source = add_source(session, ensure_collection(session, "flood"), URL)
            return [add_capture(session, source, record, uri).id
                    for record, uri in ((first, first_uri), (again, again_uri), (edited, edited_uri))]
    finally:
        ws.close()


def test_diff_shows_the_edited_sentence(settings: Settings, run: Any) -> None:
    first, revisit, edited = captured(settings)
    code, out, err = run("diff", URL, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["from"]["capture_id"], result["to"]["capture_id"]) == (revisit, edited)
    assert result["from"]["record_type"] == "revisit" and result["changed"] is True
    assert result["removed"] == ["The river rose three metres overnight."]
    assert result["added"] == ["The river rose four metres overnight."]

    code, out, _ = run("diff", URL, "--from", "2026-03-01T12:00", "--to", "2026-03-02T12:00")
    assert code == 0 and f"capture {first} " in out and "the main text is the same" in out
    code, out, _ = run("diff", URL, "--from", "2026-03-01T12:00")
    assert code == 0 and "-The river rose three metres overnight." in out and "+The river rose four" in out

    code, _, err = run("diff", URL, "--to", "2026-03-01T12:00")
    assert code == 3 and "only one capture" in err and len(err.strip().splitlines()) == 1
    code, _, err = run("diff", "https://news.example/other")
    assert code == 3 and "is not tracked" in err
    for args in (("--from", "soon"), ("--to", "2026-02-30"), ("--from", "2026-03-03", "--to", "2026-03-01")):
        code, out, err = run("diff", URL, *args)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, args


def test_the_api_diff(settings: Settings, api: Any) -> None:
    first, revisit, edited = captured(settings)
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            source_id = session.get(Capture, edited).source_id
    finally:
        ws.close()
    answer = api.get(f"/api/sources/{source_id}/diff").json()
    assert (answer["from"]["capture_id"], answer["to"]["capture_id"]) == (revisit, edited)
    assert answer["added"] == ["The river rose four metres overnight."]
    same = api.get(f"/api/sources/{source_id}/diff", params={"from": "2026-03-01T12:00", "to": "20260302120000"})
    assert same.json()["changed"] is False and same.json()["from"]["capture_id"] == first
    assert api.get(f"/api/sources/{source_id}/diff", params={"to": "2026-03-01T12:00"}).status_code == 404
    assert api.get(f"/api/sources/{source_id}/diff", params={"from": "later"}).status_code == 422
    assert api.get(f"/api/sources/{source_id}/diff", role=None).status_code == 401
