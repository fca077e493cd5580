"""`lastseen search --reindex`: captures and videos archived before the search index existed become searchable,
read back from their WARC records; a second run finds nothing left to do; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select, update

from archive.config import Settings
from archive.db import session_scope
from archive.models import SearchDocument, Video
from archive.sources import ensure_collection
from archive.workspace import Workspace
from tests.servers.api import add_capture, add_source, at, store_exchange
from tests.test_checker import article

FLOOD = article("Flood in the valley", "Volunteers filled sandbags at the school until the early morning.")
QUAKE = article("Quake in the hills", "The aftershock damaged the library; nobody was hurt.")


def archived_before_search(settings: Settings) -> dict[str, int]:
    """Two pages captured into real WARC records (one per collection) and a video's metadata, with no search
    document, as an archive made before migration 0018 has them; capture ids by name, and the video's source."""
    ws = Workspace(settings)
    try:
        ids = {}
        for name, collection, body in (("flood", "valley", FLOOD), ("quake", "hills", QUAKE)):
            url = f"https://news.example/{name}"
            record, uri = store_exchange(ws, url, body.encode(), when=at("2026-03-01T10:00"))
            with session_scope(ws.sessions) as session:
                source = add_source(session, ensure_collection(session, collection), url)
                ids[name] = add_capture(session, source, record, uri).id
        with session_scope(ws.sessions) as session:
            video = add_source(session, ensure_collection(session, "valley"), "https://video.example/v/1",
                               kind="video")
            session.add(Video(source_id=video.id, provider="generic", video_id="1", canonical_url=video.url,
                              title="Water in the square", uploader="Valley Citizen"))
            ids["video"] = video.id
            assert session.scalar(select(func.count()).select_from(SearchDocument)) == 0
        return ids
    finally:
        ws.close()


def test_reindex_makes_old_captures_searchable(settings: Settings, run: Any) -> None:
    ids = archived_before_search(settings)
    assert json.loads(run("search", "sandbags", "--json")[1])["hits"] == []

    code, out, err = run("search", "--reindex", "-c", "valley", "--json")
    assert code == 0, err
    assert json.loads(out) == {"pages": 1, "videos": 1, "unreadable": 0, "leads": 0}
    [hit] = json.loads(run("search", "sandbags", "--json")[1])["hits"]
    assert (hit["capture_id"], hit["title"]) == (ids["flood"], "Flood in the valley")
    [hit] = json.loads(run("search", "citizen", "--json")[1])["hits"]
    assert (hit["kind"], hit["source_id"]) == ("video", ids["video"])
    assert json.loads(run("search", "aftershock", "--json")[1])["hits"] == [], "only the collection asked for"

    code, out, _ = run("search", "--reindex")
    assert code == 0 and out.startswith("indexed 1 page capture(s) and 0 video(s)"), out
    [hit] = json.loads(run("search", "aftershock", "--json")[1])["hits"]
    assert hit["capture_id"] == ids["quake"]
    assert json.loads(run("search", "--reindex", "--json")[1]) == {"pages": 0, "videos": 0, "unreadable": 0,
                                                                   "leads": 0}

    assert run("search", "--reindex", "-c", "nosuch")[0] == 3
    for args in (("--reindex", "river"), ()):
        code, out, err = run("search", *args)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, args


def test_reindex_gives_documents_indexed_before_0026_their_lead(settings: Settings, run: Any) -> None:
    """On PostgreSQL a document indexed before lead_tsv existed gets, from its stored text and in its language,
    the lead index_documents makes now (in the collection asked for only); SQLite has none to fill."""
    archived_before_search(settings)
    assert run("search", "--reindex", "--json")[0] == 0
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            made = dict(session.execute(select(SearchDocument.key, SearchDocument.lead_tsv)).all())
            session.execute(update(SearchDocument).values(lead_tsv=None))
    finally:
        ws.close()
    postgres = settings.database_url.startswith("postgresql")
    code, out, err = run("search", "--reindex", "-c", "hills", "--json")
    assert code == 0 and json.loads(out)["leads"] == (1 if postgres else 0), (out, err)
    assert json.loads(run("search", "--reindex", "--json")[1])["leads"] == (2 if postgres else 0)
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            filled = dict(session.execute(select(SearchDocument.key, SearchDocument.lead_tsv)).all())
    finally:
        ws.close()
    assert filled == made and len(made) == 3, "the same leads index_documents made"
    assert all(made.values()) if postgres else not any(made.values())
    assert json.loads(run("search", "--reindex", "--json")[1])["leads"] == 0, "nothing left to fill"
