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
from archive.models import Alert, Base, Capture, Check, Collection, Source, StatusTransition
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.urls import normalize_url, url_hash


def test_migrations_match_models(settings: Settings) -> None:
    """Autogenerate finds nothing to add: every model change came with its migration."""
    sessions = open_database(settings.database_url)
    engine = sessions.kw["bind"]
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
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
    # Rows written as revision 0002 knew them (the models of today have columns later revisions add).
    collections = sa.table("collection", *(sa.column(name) for name in (
        "name", "description", "obey_robots", "alert_on_changed", "public_read", "created_at")))
    sources = sa.table("source", *(sa.column(name) for name in (
        "collection_id", "url", "normalized_url", "url_hash", "domain", "kind", "added_at", "status", "streak_count")))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(collections.insert().values(name="c", description="", obey_robots=True,
                                                       alert_on_changed=False, public_read=False, created_at=now))
        collection_id = connection.scalar(sa.text("SELECT id FROM collection WHERE name = 'c'"))
        connection.execute(sources.insert().values(collection_id=collection_id, url="https://x.example/",
                                                   normalized_url="https://x.example/", url_hash="0" * 64,
                                                   domain="x.example", kind="page", added_at=now, status="new",
                                                   streak_count=0))
        source_id = connection.scalar(sa.text("SELECT id FROM source"))
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
