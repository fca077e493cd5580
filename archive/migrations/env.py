"""Alembic environment: runs migrations on the engine or connection lastseen hands over."""

from alembic import context

from archive.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Online only: lastseen always migrates a live database it has opened."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = config.attributes["engine"]
    with engine.begin() as conn:
        _run(conn)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
