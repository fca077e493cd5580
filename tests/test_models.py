"""The schema: migrations match the models on both databases, and the rules the model promises hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from archive.config import Settings
from archive.db import DatabaseError, alembic_config, make_engine, open_database, session_scope
from archive.models import (
    Alert,
    Base,
    Capture,
    Check,
    Collection,
    CustodyEvent,
    Source,
    SourceTag,
    StatusTransition,
    Video,
)
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.urls import normalize_url, url_hash


def test_migrations_match_models(settings: Settings) -> None:
    """Autogenerate finds nothing to add: every model change came with its migration (SQLite's full-text index,
    search_fts and its shadow tables, is an index the migration keeps, not a model). The stages' own tables
    (footage, words) are loaded too, whichever tests ran before."""
    import archive.footage.links  # noqa: F401
    import archive.footage.tables  # noqa: F401
    import archive.words.tables  # noqa: F401

    sessions = open_database(settings.database_url)
    engine = sessions.kw["bind"]
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_name": lambda name, kind, _parent: not (kind == "table" and name.startswith("search_fts"))})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    engine.dispose()


def test_migrating_twice_is_harmless(settings: Settings) -> None:
    open_database(settings.database_url).kw["bind"].dispose()
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        assert session.scalars(select(Collection)).all() == []
    sessions.kw["bind"].dispose()


def test_old_change_hashes_move_from_the_detail_into_columns(settings: Settings) -> None:
    """Revision 0003 moves the hash a `changed` check wrote into its detail into the new columns, and back."""
    engine = make_engine(settings.database_url)
    config = alembic_config(engine)
    command.upgrade(config, "0002")
    # Rows written as revision 0002 knew them (today's models have columns 0002 lacks).
    with engine.begin() as connection:
        collection_id = connection.execute(sa.table("collection", sa.column("id"), sa.column("name"),
                                                    sa.column("description"), sa.column("obey_robots"),
                                                    sa.column("alert_on_changed"), sa.column("public_read"),
                                                    sa.column("created_at")).insert().values(
            name="c", description="", obey_robots=True, alert_on_changed=False, public_read=False,
            created_at=datetime(2026, 1, 1)).returning(sa.literal_column("id"))).scalar_one()
        source_id = connection.execute(sa.table("source", sa.column("collection_id"), sa.column("url"),
                                                sa.column("normalized_url"), sa.column("url_hash"),
                                                sa.column("domain"), sa.column("kind"), sa.column("added_at"),
                                                sa.column("status"), sa.column("streak_count")).insert().values(
            collection_id=collection_id, url="https://x.example/", normalized_url="https://x.example/",
            url_hash="0" * 64, domain="x.example", kind="page", added_at=datetime(2026, 1, 1), status="new",
            streak_count=0).returning(sa.literal_column("id"))).scalar_one()
    text, payload = "a" * 64, "b" * 64
    old = {"changed by text": f"main text differs from the capture of 2026-01-01T00:00:00Z; text_sha256={text}",
           "changed by bytes": f"content differs from the capture of 2026-01-01T00:00:00Z; payload_sha256={payload}"
                               " (redirects: https://x.example/ -> https://x.example/a)",
           "ok": "HTTP 200; same main text as the capture of 2026-01-01T00:00:00Z"}
    checks = sa.table("check_result", sa.column("source_id"), sa.column("checked_at"), sa.column("outcome"),
                      sa.column("detail"))
    at = datetime(2026, 1, 2, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(checks.insert(), [{"source_id": source_id, "checked_at": at, "outcome": "changed",
                                              "detail": detail} for detail in old.values()])
    command.upgrade(config, "head")
    with session_scope(sessionmaker(engine)) as session:
        rows = [(c.detail, c.text_sha256, c.payload_sha256) for c in session.scalars(select(Check).order_by(Check.id))]
    assert rows == [("main text differs from the capture of 2026-01-01T00:00:00Z", text, None),
                    ("content differs from the capture of 2026-01-01T00:00:00Z (redirects: https://x.example/ -> "
                     "https://x.example/a)", None, payload),
                    (old["ok"], None, None)]
    command.downgrade(config, "0002")
    with engine.connect() as connection:
        details = list(connection.scalars(sa.select(checks.c.detail).order_by(sa.text("id"))))
    assert details[0] == old["changed by text"] and details[2] == old["ok"]
    assert details[1].endswith(f"; payload_sha256={payload}"), "the mark is back where the old checks read it"
    engine.dispose()


def test_one_url_once_per_collection(settings: Settings) -> None:
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        collection = ensure_collection(session, "c")
        add_sources(session, collection, [SourceEntry("https://x.example/a")])
    with pytest.raises(IntegrityError):
        with session_scope(sessions) as session:
            normalized = normalize_url("https://x.example/a")
            session.add(Source(collection_id=collection.id, url="https://x.example/a", normalized_url=normalized,
                               url_hash=url_hash(normalized), domain="x.example"))
    sessions.kw["bind"].dispose()


def test_a_batch_adds_each_url_once_with_its_tags_video_and_custody_event(settings: Settings) -> None:
    """A batch goes in with one statement per table (COPY and unnest on PostgreSQL): a URL repeated in the
    batch, or already stored, is reported known with the stored row's id; tags of any text come back as
    given; each new source gets its defaults, its video row and one `added` event."""
    sessions = open_database(settings.database_url)
    video = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    odd_tag = "tab\there, back\\slash, new\nline, \u00e9t\u00e9"
    with session_scope(sessions) as session:
        collection = ensure_collection(session, "c")
        stored = add_sources(session, collection, [SourceEntry("https://x.example/a")]).added[0]
    with session_scope(sessions) as session:
        entries = [SourceEntry("https://x.example/a", 1), SourceEntry("https://u:p@x.example/b#top", 2, (odd_tag,)),
                   SourceEntry("https://X.example/b", 3), SourceEntry(video, 4), SourceEntry(video, 5)]
        result = add_sources(session, collection, entries, tags=["shared"], actor="tester")
    assert [source.normalized_url for source in result.added] == ["https://x.example/b", video]
    assert result.added[0].url == "https://x.example/b#top", "userinfo is never stored"
    b_id, video_id = (source.id for source in result.added)
    assert [(entry.line, source.id) for entry, source in result.known] == [(1, stored.id), (3, b_id), (5, video_id)]
    assert result.known[0][1].normalized_url == "https://x.example/a" and not result.refused
    with session_scope(sessions) as session:
        sources = {row.id: row for row in session.scalars(select(Source))}
        assert len(sources) == 3 and sources[video_id].kind == "video" and sources[b_id].kind == "page"
        assert all(row.status == "new" and row.streak_count == 0 and row.added_at.tzinfo for row in sources.values())
        tags = session.execute(select(SourceTag.source_id, SourceTag.tag).order_by(SourceTag.tag)).all()
        assert sorted(tags) == sorted([(b_id, "shared"), (b_id, odd_tag), (video_id, "shared")])
        (row,) = session.scalars(select(Video)).all()
        assert (row.source_id, row.provider, row.video_id) == (video_id, "youtube", "dQw4w9WgXcQ")
        events = session.scalars(select(CustodyEvent).where(CustodyEvent.actor == "tester")).all()
        assert sorted(event.subject for event in events) == sorted(["https://x.example/b", video])
        assert all(event.action == "added" and event.detail == {"kind": "sources"} and event.at.tzinfo
                   for event in events)
    sessions.kw["bind"].dispose()


def test_one_alert_per_transition(settings: Settings) -> None:
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        source = add_sources(session, ensure_collection(session, "c"), [SourceEntry("https://x.example/")]).added[0]
        transition = StatusTransition(source_id=source.id, kind="vanished", from_status="alive",
                                      to_status="vanished", reason="gone", evidence=[1, 2])
        session.add(transition)
        session.flush()
        session.add(Alert(source_id=source.id, transition_id=transition.id, kind="vanished"))
        ids = (source.id, transition.id)
    with pytest.raises(IntegrityError):
        with session_scope(sessions) as session:
            session.add(Alert(source_id=ids[0], transition_id=ids[1], kind="vanished"))
    sessions.kw["bind"].dispose()


def test_times_come_back_as_utc(settings: Settings) -> None:
    """An aware time in any zone is stored as UTC and read back aware, on SQLite too."""
    sessions = open_database(settings.database_url)
    kyiv = timezone(timedelta(hours=2))
    moment = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=kyiv)
    with session_scope(sessions) as session:
        source = add_sources(session, ensure_collection(session, "c"), [SourceEntry("https://x.example/")]).added[0]
        session.add(Capture(source_id=source.id, captured_at=moment, url=source.normalized_url, http_status=200,
                            content_type="text/html", payload_sha256="0" * 64, size=1, warc_uri="file:///x",
                            warc_offset=0, warc_length=1))
    with session_scope(sessions) as session:
        capture = session.scalars(select(Capture)).one()
        assert capture.captured_at == moment and capture.captured_at.tzinfo is not None
        assert capture.captured_at.utcoffset() == timedelta(0) and capture.captured_at.hour == 10
    with session_scope(sessions) as session:
        with pytest.raises(Exception, match="naive datetime"):
            session.add(Capture(source_id=source.id, captured_at=datetime(2026, 1, 1), url="u", http_status=200,
                                payload_sha256="0" * 64, size=1, warc_uri="w", warc_offset=0, warc_length=1))
            session.flush()
        session.rollback()
    assert moment.astimezone(UTC).hour == 10
    sessions.kw["bind"].dispose()


def test_cascade_removes_a_collections_rows(settings: Settings) -> None:
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        add_sources(session, ensure_collection(session, "gone"), [SourceEntry("https://x.example/1")], tags=["t"])
    with session_scope(sessions) as session:
        session.delete(session.scalars(select(Collection)).one())
    with session_scope(sessions) as session:
        assert session.scalars(select(Source)).all() == []
    sessions.kw["bind"].dispose()


def test_unreachable_database_is_one_line() -> None:
    with pytest.raises(DatabaseError, match="cannot connect to the database") as info:
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert "\n" not in str(info.value)
