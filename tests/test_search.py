"""Search over the archive: pages crawled and described, a video's metadata, found by their words with a snippet
and the right capture, on SQLite (FTS5) and PostgreSQL (tsvector); bad queries get one clear line."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from archive.config import Settings
from archive.db import session_scope
from archive.models import SEARCH_BUCKET, Capture, SearchDocument, Source
from archive.research.search import Document, index_documents, video_document
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.workspace import Workspace
from tests.servers.site import Page, Site
from tests.test_checker import article
from tests.test_crawl import crawl

FLOOD = article("Flood in the valley", "Volunteers filled sandbags at the school until the early morning.",
                "The river rose three metres overnight and the old bridge was closed by the police.")
QUAKE = article("Quake in the hills", "The aftershock damaged the library; nobody was hurt, the mayor said.")
HUGE = " ".join(["river"] * 10_000)


def crawled(settings: Settings, site: Site) -> dict[str, int]:
    """/flood and /quake crawled (and described) into the collection flood; their capture ids by path."""
    site.set("/flood", Page(FLOOD))
    site.set("/quake", Page(QUAKE))
    code, summary, stderr = crawl(settings, site, site.url("/flood"), site.url("/quake"), "-c", "flood")
    assert code == 0, stderr[-3000:]
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            return {url.rsplit("/", 1)[1]: capture_id for url, capture_id in session.execute(
                select(Source.url, Capture.id).join(Capture).where(Capture.record_type == "response"))}
    finally:
        ws.close()


def add_video(settings: Settings, site: Site) -> tuple[int, int]:
    """A video source with one capture and its metadata indexed as the crawl's video pipeline does."""
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            [video] = add_sources(session, ensure_collection(session, "clips"),
                                  [SourceEntry(site.url("/watch?v=vid00001"))], kind="video").added
            capture = Capture(source_id=video.id, url=video.url, http_status=200, content_type="text/html",
                              payload_sha256="0" * 64, payload_digest=None, size=1, warc_uri="file:///v.warc.gz",
                              warc_offset=0, warc_length=1)
            session.add(capture)
            session.flush()
            info = {"title": "Water in the square", "uploader": "Valley Citizen", "language": "en",
                    "description": "Filmed from the balcony as the embankment gave way."}
            index_documents(session, [video_document(video.id, info)])
            index_documents(session, [video_document(video.id, info)])  # again: replaces, never doubles
            return video.id, capture.id
    finally:
        ws.close()


def test_search_finds_pages_and_videos_with_their_captures(settings: Settings, site: Site, run: Any,
                                                           api: Any) -> None:
    captures = crawled(settings, site)
    video_id, video_capture = add_video(settings, site)

    code, out, err = run("search", "sandbag", "--json")  # stemmed: the page says "sandbags"
    assert code == 0, err
    [hit] = json.loads(out)["hits"]
    assert (hit["url"], hit["capture_id"], hit["title"]) == (site.url("/flood"), captures["flood"],
                                                            "Flood in the valley")
    assert "**sandbags**" in hit["snippet"] and hit["capture_url"] == f"/api/captures/{captures['flood']}"
    [hit] = json.loads(run("search", "aftershock", "library", "--json")[1])["hits"]
    assert hit["capture_id"] == captures["quake"]
    assert json.loads(run("search", "aftershock", "bridge", "--json")[1])["hits"] == [], "every word must appear"

    [hit] = json.loads(run("search", "embankment", "--json")[1])["hits"]
    assert (hit["kind"], hit["source_id"], hit["capture_id"], hit["authors"]) == ("video", video_id, video_capture,
                                                                                 "Valley Citizen")
    assert json.loads(run("search", "embankment", "-c", "flood", "--json")[1])["hits"] == []
    code, out, _ = run("search", "river")
    assert code == 0 and out.startswith("1 hit(s) for 'river'") and site.url("/flood") in out

    answer = api.get("/api/search", params={"q": "sandbag"}).json()
    assert [h["capture_id"] for h in answer["hits"]] == [captures["flood"]]
    assert answer["hits"][0]["capture_url"] == api.url(f"/api/captures/{captures['flood']}")
    replay = api.get(f"/api/captures/{captures['flood']}")
    assert replay.status_code == 200 and b"sandbags" in replay.content, "the hit links to the archived page"
    assert api.get("/api/search", params={"q": "sandbag"}, role=None).status_code == 401, "nothing is public"
    assert api.get("/api/search", params={"q": "sandbag", "collection": "nope"}).status_code == 404


def test_bad_queries_get_one_clear_line(settings: Settings, site: Site, run: Any, api: Any) -> None:
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            [page] = add_sources(session, ensure_collection(session, "flood"), [SourceEntry(site.url("/x"))]).added
            index_documents(session, [Document(f"page:test{n}", page.id, "page", title=f"The story {n}",
                                               body="the of and a river", language="en") for n in range(30)])
    finally:
        ws.close()
    code, out, err = run("search", HUGE)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "at most" in err
    assert api.get("/api/search", params={"q": HUGE}).status_code in (414, 422)
    for words in ("%%% !!! ---", " ", "___"):  # no word to look for: no hits, and a note why
        code, out, err = run("search", words, "--json")
        assert code == 0 and json.loads(out)["hits"] == [] and "only symbols" in json.loads(out)["note"], words
        answer = api.get("/api/search", params={"q": words})
        assert answer.status_code == 200 and "only symbols" in answer.json()["note"], words
    code, out, err = run("search", "the", "of", "and", "--json")
    if settings.database_url.startswith("postgresql"):
        assert code == 0 and json.loads(out)["hits"] == [] and "only common words" in json.loads(out)["note"]
        assert "only common words" in api.get("/api/search", params={"q": "the of"}).json()["note"]
    else:  # FTS5 keeps every word: the answer is bounded instead
        assert code == 0 and len(json.loads(out)["hits"]) == 20 and json.loads(out)["note"] is None
    assert len(json.loads(run("search", "river", "--limit", "100", "--json")[1])["hits"]) == 30
    assert run("search", "river", "--limit", "1000")[0] == 2
    assert len(api.get("/api/search", params={"q": "story river", "limit": 5}).json()["hits"]) == 5


def test_postgres_ranks_a_bounded_set_of_matches_and_says_so(settings: Settings, site: Site, api: Any,
                                                             monkeypatch: Any) -> None:
    """PostgreSQL reads the newest bucket of ids first: the 4 ranked are the newer bucket's, and a match only an
    older bucket holds is still found, past an empty bucket between them."""
    from archive.research import search as engine

    monkeypatch.setattr(engine, "CANDIDATES", 4)
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            [page] = add_sources(session, ensure_collection(session, "flood"), [SourceEntry(site.url("/x"))]).added
            index_documents(session, [Document(f"page:cap{n}", page.id, "page", body="the levee held",
                                               title=f"Levee held {n}" if n in (2, 8) else f"Report {n}",
                                               language="en") for n in range(10)])
            session.execute(update(SearchDocument).where(SearchDocument.key.in_([f"page:cap{n}" for n in range(5, 10)]))
                            .values(id=SearchDocument.id + 2 * SEARCH_BUCKET))  # indexed later: two buckets on
            hits = engine.search(session, "levee held", limit=3)
            few = engine.search(session, "report 1", limit=3)
    finally:
        ws.close()
    assert few.note is None and [h["title"] for h in few] == ["Report 1"], "under the cap: every match ranked"
    titles = [h["title"] for h in hits]
    if settings.database_url.startswith("postgresql"):  # the newer bucket's 4 are ranked: report 2 is not among them
        assert len(hits) == 3 and "4 matches" in (hits.note or "")
        assert titles[0] == "Levee held 8" and "Levee held 2" not in titles, titles
        assert "4 matches" in api.get("/api/search", params={"q": "levee held"}).json()["note"]
        assert "4 matches" in api.get("/search", params={"q": "levee held"}).text, "the dashboard says it"
    else:  # FTS5 ranks every match
        assert hits.note is None and set(titles[:2]) == {"Levee held 2", "Levee held 8"}, titles


def test_a_query_is_read_in_each_language_the_archive_holds(settings: Settings, site: Site) -> None:
    from archive.research import search as engine

    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            [page] = add_sources(session, ensure_collection(session, "flood"), [SourceEntry(site.url("/x"))]).added
            index_documents(session, [Document("page:en", page.id, "page", body="Floods closed the bridges.",
                                               language="en")])
            before = engine.search(session, "наводнение")
            index_documents(session, [
                Document("page:ru", page.id, "page", body="Наводнения закрыли мосты.", language="ru"),
                Document("page:unknown", page.id, "page", body="Повінь у місті.")])
            postgres = settings.database_url.startswith("postgresql")  # FTS5 stems English only (porter)
            english, russian = engine.search(session, "flood"), engine.search(
                session, "наводнение" if postgres else "наводнения")
            simple = engine.search(session, "повінь")
            in_use = engine.configs_in_use(session) if postgres else None
    finally:
        ws.close()
    assert [h["snippet"] for h in english] == ["**Floods** closed the bridges."], "English stems: flood = floods"
    assert before == [] and len(russian) == 1 and "**Наводнения**" in russian[0]["snippet"], russian
    assert len(simple) == 1, "a document of no known language is found by its words as written"
    if in_use is not None:  # only the configurations of the documents' languages read the query
        assert in_use == ["english", "russian", "simple"], in_use


def test_a_snippet_shows_the_words_deep_in_a_long_text(settings: Settings, site: Site) -> None:
    from archive.research import search as engine

    filler = "The council met again and the minutes were read aloud. " * 400  # ~22,000 characters
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            [page] = add_sources(session, ensure_collection(session, "flood"), [SourceEntry(site.url("/x"))]).added
            index_documents(session, [Document("page:long", page.id, "page", title="Minutes", language="en",
                                               body=filler[:9000] + " Volunteers filled sandbags at dawn. " + filler)])
            [hit] = engine.search(session, "sandbags volunteers")
    finally:
        ws.close()
    assert "**Volunteers** filled **sandbags**" in hit["snippet"], hit["snippet"]


def test_postgres_ranks_by_the_opening_of_a_text(settings: Settings, site: Site) -> None:
    """The words in a text's opening rank above the same words deep in a longer one indexed first; a document
    indexed before lead_tsv existed (none stored) is still found, and ranked by its whole text."""
    from archive.research import search as engine

    filler = "The council met again and the minutes were read aloud. " * 40  # ~2,200 characters
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            [page] = add_sources(session, ensure_collection(session, "flood"), [SourceEntry(site.url("/x"))]).added
            index_documents(session, [
                Document("page:deep", page.id, "page", title="Minutes of March", language="en",
                         body=filler + " Volunteers filled sandbags at dawn."),
                Document("page:lead", page.id, "page", title="Minutes of April", language="en",
                         body="Volunteers filled sandbags at dawn. " + filler)])
            ranked = [hit["title"] for hit in engine.search(session, "sandbags")]
            session.execute(update(SearchDocument).values(lead_tsv=None))
            older = engine.search(session, "sandbags volunteers")
    finally:
        ws.close()
    assert sorted(ranked) == ["Minutes of April", "Minutes of March"] and len(older) == 2
    if settings.database_url.startswith("postgresql"):  # FTS5's BM25 weighs the word the same in both
        assert ranked == ["Minutes of April", "Minutes of March"], "the opening's words first, though indexed later"
        assert min(hit["score"] for hit in older) > 0, "no lead: ranked by the whole vector, deep words count"
