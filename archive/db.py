"""Opening the database: engine, sessions, and bringing the schema up to date with Alembic; writing many rows.

Many rows go in with one statement: on PostgreSQL a COPY stream, or one INSERT over arrays (unnest) when
ids are wanted back, so neither the statement nor its parsing grows with the rows; elsewhere one executemany.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Row, Table, create_engine, event, insert, inspect
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from archive.config import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(Exception):
    """The database cannot be used; the message is one line for the user."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """WAL lets checks and crawls read while one writes; foreign keys make cascades real."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """An engine for the URL; SQLite files get their folder created and sensible pragmas."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ConfigError(f"LASTSEEN_DATABASE_URL is not a database URL: {database_url!r}") from None
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in {"psycopg2", "postgresql"}:
        url = url.set(drivername="postgresql+psycopg")
    try:
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except NoSuchModuleError:
        raise ConfigError(f"LASTSEEN_DATABASE_URL: unsupported database {url.get_backend_name()!r}") from None


def alembic_config(engine: Engine) -> Any:
    """Alembic's configuration pointing at our migrations and this engine (Alembic loads only when used)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is already there)."""
    from alembic import command

    try:
        with engine.begin() as connection:
            config = alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise DatabaseError(f"cannot use the database {engine.url.render_as_string(hide_password=True)}: "
                            f"{_first_line(exc)}") from None


def open_database(database_url: str, *, upgrade: bool = True) -> sessionmaker[Session]:
    """Connect, migrate, and return a session factory; a clear DatabaseError when unreachable."""
    engine = make_engine(database_url)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database {engine.url.render_as_string(hide_password=True)}: "
                            f"{_first_line(exc)}") from None
    if upgrade:
        migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


def table_names(engine: Engine) -> set[str]:
    """Names of the tables that exist now."""
    return set(inspect(engine).get_table_names())


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def copy_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that need nothing back, in the session's transaction: COPY on PostgreSQL."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    names, values = _bound(connection.dialect, table, rows)
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in names)
    with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)


def insert_new(session: Session, table: Table, rows: Sequence[dict[str, Any]], unique: Sequence[str],
               returning: Sequence[str]) -> list[Row[Any]]:
    """Insert rows, skipping any whose `unique` columns match a stored row; the inserted rows' `returning`."""
    if not rows:
        return []
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(unique))
        return list(session.execute(statement.returning(*(table.c[name] for name in returning)), rows))
    names, values = _bound(connection.dialect, table, rows)
    preparer = connection.dialect.identifier_preparer
    arrays = ", ".join(f"%s::{table.c[name].type.compile(dialect=connection.dialect)}[]" for name in names)
    sql = (f"INSERT INTO {preparer.format_table(table)} ({', '.join(preparer.quote(name) for name in names)}) "
           f"SELECT * FROM unnest({arrays}) ON CONFLICT ({', '.join(preparer.quote(name) for name in unique)}) "
           f"DO NOTHING RETURNING {', '.join(preparer.quote(name) for name in returning)}")
    return list(connection.exec_driver_sql(sql, tuple(list(column) for column in zip(*values, strict=True))))


def _bound(dialect: Any, table: Table, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and each row's values as the driver takes them: the columns' Python defaults filled in
    (once for all rows), and the types' bind processing applied, as SQLAlchemy's own inserts do."""
    given = list(rows[0])
    defaults = {column.name: column.default.arg if column.default.is_scalar else column.default.arg(None)
                for column in table.columns if column.name not in given and column.default is not None}
    names = given + list(defaults)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    values = []
    for row in rows:
        raw = [row[name] for name in given] + list(defaults.values())
        values.append(tuple(value if process is None else process(value)
                            for value, process in zip(raw, processors, strict=True)))
    return names, values


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
