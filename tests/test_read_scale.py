"""The read side at scale, on SQLite and PostgreSQL: keyset pages give every source once, and the tallies the
database's triggers keep (migration 0012) agree with counting the rows, through inserts, status changes, deletes
and cascades, before and after folding."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.models import Capture, Check, Collection, Source, StatusTransition, Tally
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.tally import CAPTURES, CHECKS, SOURCES, VANISHINGS, fold, tally
from tests.servers.api import ApiServer

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
STATUSES = ("alive", "vanished", "unreachable", "new")


def _seed(session: Session, name: str, count: int, offset: int) -> list[int]:
    """`count` sources in a collection, statuses in turn, every third tagged `t`."""
    collection = ensure_collection(session, name)
    added = add_sources(session, collection, [SourceEntry(f"https://{name}.example/{n}", tags=("t",) if n % 3 else ())
                                              for n in range(count)]).added
    for n, source in enumerate(added):
        session.execute(update(Source).where(Source.id == source.id).values(status=STATUSES[(n + offset) % 4]))
    return [source.id for source in added]


def _follow(api: ApiServer, query: str) -> list[int]:
    """Every id of a list, by following each page's next link (checked against its cursor and Link header)."""
    seen: list[int] = []
    url: str | None = api.url(f"/api/sources?limit=7&{query}")
    while url:
        response = api.get(url[len(api.base_url):])
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        url = page["next"]
        assert (page["next_cursor"] is None) == (url is None)
        if url:
            assert f"cursor={page['next_cursor']}" in url and response.headers["Link"] == f'<{url}>; rel="next"'
            assert len(page["items"]) == 7
    return seen


def test_keyset_pages_give_every_source_once(api: ApiServer) -> None:
    with session_scope(api.workspace.sessions) as session:
        ids = {"a": _seed(session, "a", 40, 0), "b": _seed(session, "b", 23, 1)}
    with session_scope(api.workspace.sessions) as session:
        rows = session.execute(select(Source.id, Collection.name, Source.status).join(Collection)).all()
    wanted = {
        "": sorted(i for i, _, _ in rows),
        "collection=a": sorted(ids["a"]),
        "collection=a&status=vanished": sorted(i for i, c, s in rows if c == "a" and s == "vanished"),
        "status=alive": sorted(i for i, _, s in rows if s == "alive"),
        "collection=b&tag=t": sorted(ids["b"][n] for n in range(23) if n % 3),
    }
    for query, expected in wanted.items():
        assert _follow(api, query) == expected, query

    first = api.get("/api/sources?collection=a&limit=10").json()
    with session_scope(api.workspace.sessions) as session:  # a row before the cursor goes, one after it comes
        session.execute(delete(Source).where(Source.id == ids["a"][0]))
        _seed(session, "a2", 1, 0)
        session.execute(update(Source).where(Source.collection_id == select(Collection.id).where(
            Collection.name == "a2").scalar_subquery()).values(collection_id=select(Collection.id).where(
                Collection.name == "a").scalar_subquery()))
    rest = _follow(api, f"collection=a&cursor={first['next_cursor']}")
    with session_scope(api.workspace.sessions) as session:
        now = sorted(session.scalars(select(Source.id).join(Collection).where(Collection.name == "a")))
    assert [item["id"] for item in first["items"]] + rest == [ids["a"][0], *now]


def _truth(session: Session) -> dict[str, dict[tuple[int | None, str], int]]:
    """The counts the tallies should hold, by counting the rows."""
    def grouped(query: Any) -> dict[tuple[int | None, str], int]:
        return {(c, str(k)): n for c, k, n in session.execute(query) if n}

    klass = Counter[tuple[int | None, str]]()
    for record_type, status, n in session.execute(select(Capture.record_type, Capture.http_status, func.count())
                                                  .group_by(Capture.record_type, Capture.http_status)):
        klass[(None, f"{record_type}|{status // 100}xx" if status else f"{record_type}|none")] += n
    days = Counter[tuple[int | None, str]]()
    for collection_id, when in session.execute(select(Source.collection_id, StatusTransition.at).join(Source)
                                               .where(StatusTransition.to_status == "vanished")):
        days[(collection_id, when.date().isoformat())] += 1
    return {
        SOURCES: grouped(select(Source.collection_id, Source.status, func.count())
                         .group_by(Source.collection_id, Source.status)),
        CHECKS: {(None, k): n for k, n in session.execute(select(Check.outcome, func.count()).group_by(Check.outcome))},
        CAPTURES: dict(klass), VANISHINGS: dict(days)}


def _assert_tallies(sessions: Any) -> None:
    with session_scope(sessions) as session:
        truth = _truth(session)
        for name, counts in truth.items():
            assert tally(session, name) == counts, name


def test_tallies_follow_every_change_of_the_rows(settings: Settings) -> None:
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        a, b = _seed(session, "a", 9, 0), _seed(session, "b", 5, 2)
    _assert_tallies(sessions)
    with session_scope(sessions) as session:  # checks, captures and transitions, by executemany and by the ORM
        session.execute(insert(Check), [{"source_id": a[n % 9], "checked_at": T0, "outcome": o, "detail": ""}
                                        for n, o in enumerate(["ok", "ok", "timeout", "gone", "ok", "changed"])])
        session.add(Check(source_id=b[0], checked_at=T0, outcome="soft_404", detail=""))
        for n, status in enumerate([200, 404, None, 0, 302, 200]):
            session.add(Capture(source_id=a[n], captured_at=T0, url=f"https://a.example/{n}", http_status=status,
                                payload_sha256="0" * 64, size=1, record_type="revisit" if n == 5 else "response",
                                warc_uri="file:///x.warc.gz", warc_offset=0, warc_length=1))
        for n, source_id in enumerate([a[0], a[1], a[1], b[2], b[3]]):
            session.add(StatusTransition(source_id=source_id, at=T0 + timedelta(days=n % 2, hours=n), kind="vanished",
                                         from_status="alive", to_status="vanished" if n != 3 else "returned"))
    _assert_tallies(sessions)
    with session_scope(sessions) as session:  # the status writer, a bulk update, and updates that move no count
        source = session.get(Source, a[2])
        assert source is not None
        source.status = "returned"
        source.last_checked_at = T0
        session.execute(update(Source).where(Source.id.in_(b)).values(status="unreachable"))
        session.execute(update(Source).values(next_check_at=T0))
        session.execute(update(Capture).where(Capture.http_status == 404).values(http_status=410))
    _assert_tallies(sessions)
    with session_scope(sessions) as session:  # a source with checks, captures and vanishings; then a collection
        session.delete(session.get(Source, a[1]))
        session.flush()
        session.execute(delete(Check).where(Check.outcome == "gone"))
        session.execute(delete(StatusTransition).where(StatusTransition.source_id == a[0]))
        session.delete(session.scalars(select(Collection).where(Collection.name == "b")).one())
    _assert_tallies(sessions)
    with session_scope(sessions) as session:
        before = {name: tally(session, name) for name in (SOURCES, CHECKS, CAPTURES, VANISHINGS)}
        for name in before:
            fold(session, name)
    with session_scope(sessions) as session:
        assert {name: tally(session, name) for name in before} == before
        keys = sum(len(counts) for counts in before.values())
        assert session.scalar(select(func.count()).select_from(Tally)) == keys, "one row per key, no zeros"
    _assert_tallies(sessions)
    sessions.kw["bind"].dispose()


def test_a_reader_folds_a_tally_that_piled_up(settings: Settings, monkeypatch: Any) -> None:
    monkeypatch.setattr("archive.tally.FOLD_AFTER", 3)
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        collection_id = ensure_collection(session, "c").id
        for n in range(8):  # one statement each: one tally row each on both databases
            add_sources(session, session.get_one(Collection, collection_id), [SourceEntry(f"https://c.example/{n}")])
    with session_scope(sessions) as session:
        assert tally(session, SOURCES) == {(collection_id, "new"): 8}
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Tally).where(Tally.name == SOURCES)) == 1
        assert tally(session, SOURCES) == {(collection_id, "new"): 8}
    sessions.kw["bind"].dispose()


def test_collection_view_reads_a_page_and_its_links_by_query(settings: Settings) -> None:
    from archive.api.dashboard import collection_view
    from archive.models import WaybackSubmission

    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        ids = _seed(session, "c", 105, 0)
        for n, when in enumerate([T0, T0, T0 + timedelta(days=3)]):
            session.add(StatusTransition(source_id=ids[n], at=when, kind="vanished", from_status="alive",
                                         to_status="vanished"))
        for n, source_id in enumerate([ids[0], ids[0], ids[99], ids[100]]):  # the newest of ids[0] is the second
            session.add(Capture(source_id=source_id, captured_at=T0 + timedelta(hours=n), url="https://c.example/",
                                payload_sha256="0" * 64, size=1, warc_uri="file:///x.warc.gz", warc_offset=0,
                                warc_length=1, http_status=200))
        session.add(WaybackSubmission(source_id=ids[5], archive_url="https://web.archive.example/5"))
        session.add(WaybackSubmission(source_id=ids[100], archive_url="https://web.archive.example/100"))
        session.get_one(Source, ids[7]).recovery_archive_url = "https://web.archive.example/7"
    with session_scope(sessions) as session:
        collection = session.scalars(select(Collection).where(Collection.name == "c")).one()
        captures = dict(session.execute(select(Capture.source_id, func.max(Capture.id))
                                        .group_by(Capture.source_id)).all())
        first = collection_view(session, collection, {}, status=None, after=None)
        assert [s.id for s in first.sources] == ids[:100] and first.more
        assert first.captures == {ids[0]: captures[ids[0]], ids[99]: captures[ids[99]]}
        assert first.wayback == {ids[5]: "https://web.archive.example/5", ids[7]: "https://web.archive.example/7"}
        assert first.vanishings == {T0.date(): 2, (T0 + timedelta(days=3)).date(): 1}
        second = collection_view(session, collection, {}, status=None, after=ids[99])
        assert [s.id for s in second.sources] == ids[100:] and not second.more
        assert second.captures == {ids[100]: captures[ids[100]]}
        assert second.wayback == {ids[100]: "https://web.archive.example/100"}
        empty = collection_view(session, collection, {}, status="returned", after=None)
        assert empty.sources == [] and empty.captures == {} and empty.wayback == {}
    sessions.kw["bind"].dispose()
