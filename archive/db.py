"""Opening the database: engine, sessions, and bringing the schema up to date with Alembic; writing many rows.

Many rows go in with one statement: on PostgreSQL a COPY stream, or one INSERT over arrays (unnest) when
ids are wanted back, so neither the statement nor its parsing grows with the rows; elsewhere one executemany.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice, repeat
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Row, Table, create_engine, event, insert, inspect, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError
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
                _sqlite_folder(Path(url.database).parent)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except (NoSuchModuleError, ImportError):
        raise ConfigError(f"LASTSEEN_DATABASE_URL: unsupported database {url.get_backend_name()!r} "
                          "(use sqlite:///FILE or postgresql://...)") from None


def _sqlite_folder(folder: Path) -> None:
    """The SQLite file's folder, made if only its last part is missing (the data folder on first run); a folder
    further out of reach is a bad setting, never silently created."""
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot use the folder {folder} for the database ({exc.strerror or exc}): check "
                          "LASTSEEN_DATA_DIR or LASTSEEN_DATABASE_URL") from None


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
    """Connect, migrate if the schema is behind, and return a session factory; a clear DatabaseError when
    unreachable. A schema at the newest revision costs one query, and Alembic is not loaded."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            current = schema_version(connection)
    except OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database {engine.url.render_as_string(hide_password=True)}: "
                            f"{_first_line(exc)}") from None
    if upgrade and current != head_revision():
        migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


def head_revision() -> str:
    """The newest migration's revision, read from the file names (``00NN_what.py`` holds revision ``00NN``, which
    a test keeps true), so knowing it does not load Alembic."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def schema_version(connection: Connection) -> str | None:
    """The revision the database's schema is at (None for a new database), in one query."""
    try:
        versions = list(connection.scalars(text("SELECT version_num FROM alembic_version")))
    except (OperationalError, ProgrammingError):  # no such table yet
        connection.rollback()
        return None
    return versions[0] if len(versions) == 1 else None


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
    session.flush()  # what the session holds goes first, as with session.execute
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = _columns(connection.dialect, table, rows)
    preparer = connection.dialect.identifier_preparer
    names = ", ".join(preparer.quote(column.name) for column in columns)
    series = [repeat(column.value) if column.values is None else column.values for column in columns]
    with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {preparer.format_table(table)} ({names}) FROM STDIN") as copy:
            for row in islice(zip(*series, strict=False), len(rows)):
                copy.write_row(row)


def insert_new(session: Session, table: Table, rows: Sequence[dict[str, Any]], unique: Sequence[str],
               returning: Sequence[str]) -> list[Row[Any]]:
    """Insert rows, skipping any whose `unique` columns match a stored row; the inserted rows' `returning`."""
    if not rows:
        return []
    session.flush()
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(unique))
        return list(session.execute(statement.returning(*(table.c[name] for name in returning)), rows))
    columns = _columns(connection.dialect, table, rows)
    if all(column.values is None for column in columns):  # one row, or copies of one: unnest needs an array
        columns[0] = _Column(columns[0].name, None, [columns[0].value] * len(rows))
    preparer = connection.dialect.identifier_preparer
    quoted = [preparer.quote(column.name) for column in columns]
    types = [table.c[column.name].type.compile(dialect=connection.dialect) for column in columns]
    arrays = [n for n, column in enumerate(columns) if column.values is not None]
    picked = [f"u.c{n}" if column.values is not None else f"%s::{types[n]}" for n, column in enumerate(columns)]
    sql = (f"INSERT INTO {preparer.format_table(table)} ({', '.join(quoted)}) SELECT {', '.join(picked)} "
           f"FROM unnest({', '.join(f'%s::{types[n]}[]' for n in arrays)}) AS u({', '.join(f'c{n}' for n in arrays)}) "
           f"ON CONFLICT ({', '.join(preparer.quote(name) for name in unique)}) DO NOTHING "
           f"RETURNING {', '.join(preparer.quote(name) for name in returning)}")
    params = [column.value for column in columns if column.values is None] + [columns[n].values for n in arrays]
    return list(connection.exec_driver_sql(sql, tuple(params)))


class _Column(NamedTuple):
    """One column of rows to insert: its values, or its one value when every row holds the same."""

    name: str
    value: Any
    values: list[Any] | None


def _columns(dialect: Any, table: Table, rows: Sequence[dict[str, Any]]) -> list[_Column]:
    """The rows' columns as the driver takes them: the columns' Python defaults filled in (once for all rows)
    and the types' bind processing applied, as SQLAlchemy's own inserts do; a value all rows share, once."""
    given = set(rows[0])
    columns = []
    for column in table.columns:
        if column.name in given:
            values = [row[column.name] for row in rows]
        elif column.default is not None:
            values = [column.default.arg if column.default.is_scalar else column.default.arg(None)]
        else:
            continue
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if values.count(values[0]) == len(values):
            value = values[0] if process is None else process(values[0])
            columns.append(_Column(column.name, value, None))
        else:
            columns.append(_Column(column.name, None, values if process is None else [process(v) for v in values]))
    return columns


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
