"""read side at scale: tallies kept by triggers, and the index of keyset pages

The `tally` table holds counts as +n/-n rows that triggers add whenever a source, a check or a capture is
inserted, deleted, or has its counted columns changed (COPY, cascades and raw SQL included); archive.tally sums
them and folds them together now and then. Sources are counted by collection and status, checks by outcome,
captures by record type and HTTP status class, a collection's vanishings by day: /metrics and the dashboard
no longer count millions of rows.
On PostgreSQL inserts and deletes are counted once per statement (transition tables), so COPY and
executemany add a few rows, not one per row; only rows, no counter, are written: writers never wait on each other.

Sources get (collection_id, status, id) in place of (collection_id, status): a page of a collection's sources
of one status is read in id order from the index, however deep. Checks get a partial index of the `changed`
ones by (source_id, checked_at): a source's latest change is found without reading its whole history.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 06:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLASS = ("CASE WHEN {r}.http_status IS NULL OR {r}.http_status = 0 THEN 'none' "
          "ELSE CAST({r}.http_status / 100 AS TEXT) || 'xx' END")
# table: (tally name, collection expression, key expression, columns they read); {r} is the row.
COUNTED = {
    'source': ('sources', '{r}.collection_id', '{r}.status', 'collection_id, status'),
    'check_result': ('checks', 'CAST(NULL AS BIGINT)', '{r}.outcome', 'outcome'),
    'capture': ('captures', 'CAST(NULL AS BIGINT)', "{r}.record_type || '|' || " + _CLASS,
                'record_type, http_status'),
}


def _values(table: str, row: str, n: str) -> str:
    name, collection, key, _ = COUNTED[table]
    return f"'{name}', {collection.format(r=row)}, {key.format(r=row)}, {n}"


def _changed(table: str, distinct: str) -> str:
    """The WHEN condition of an update that moves a row to another count."""
    _, collection, key, _ = COUNTED[table]
    return " OR ".join(f"({e.format(r='OLD')}) {distinct} ({e.format(r='NEW')})" for e in (collection, key))


def _postgresql(table: str) -> list[str]:
    """Statement triggers with transition tables for inserts and deletes, a row trigger for updates."""
    into = "INSERT INTO tally (name, collection_id, key, n)"
    bodies = {
        'ins': f"{into} SELECT {_values(table, 'r', 'count(*)')} FROM tally_rows AS r GROUP BY 2, 3",
        'del': f"{into} SELECT {_values(table, 'r', '-count(*)')} FROM tally_rows AS r GROUP BY 2, 3",
        'upd': f"{into} VALUES ({_values(table, 'OLD', '-1')}), ({_values(table, 'NEW', '1')})",
    }
    statements = [f"CREATE FUNCTION tally_{table}_{op_}() RETURNS trigger LANGUAGE plpgsql AS "
                  f"$$ BEGIN {body}; RETURN NULL; END $$" for op_, body in bodies.items()]
    columns = COUNTED[table][3]
    return statements + [
        f"CREATE TRIGGER tally_{table}_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS tally_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION tally_{table}_ins()",
        f"CREATE TRIGGER tally_{table}_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS tally_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION tally_{table}_del()",
        f"CREATE TRIGGER tally_{table}_upd AFTER UPDATE OF {columns} ON {table} FOR EACH ROW "
        f"WHEN ({_changed(table, 'IS DISTINCT FROM')}) EXECUTE FUNCTION tally_{table}_upd()",
    ]


def _sqlite(table: str) -> list[str]:
    """Row triggers (SQLite has no others)."""
    into = "INSERT INTO tally (name, collection_id, key, n)"
    columns = COUNTED[table][3]
    return [
        f"CREATE TRIGGER tally_{table}_ins AFTER INSERT ON {table} BEGIN "
        f"{into} VALUES ({_values(table, 'NEW', '1')}); END",
        f"CREATE TRIGGER tally_{table}_del AFTER DELETE ON {table} BEGIN "
        f"{into} VALUES ({_values(table, 'OLD', '-1')}); END",
        f"CREATE TRIGGER tally_{table}_upd AFTER UPDATE OF {columns} ON {table} "
        f"WHEN {_changed(table, 'IS NOT')} BEGIN "
        f"{into} VALUES ({_values(table, 'OLD', '-1')}), ({_values(table, 'NEW', '1')}); END",
    ]


# A collection's vanishings by day (key YYYY-MM-DD, UTC), for its page's chart: a transition's collection is its
# source's. A source's delete takes its vanishings off first (before the cascade, which then finds no source).
_DAY = {'postgresql': "to_char({r}.at AT TIME ZONE 'UTC', 'YYYY-MM-DD')", 'sqlite': "substr({r}.at, 1, 10)"}


def _vanishings(dialect: str) -> list[str]:
    """The triggers of the `vanishings` tally."""
    day = _DAY[dialect]
    into = "INSERT INTO tally (name, collection_id, key, n)"
    of_source = (f"{into} SELECT 'vanishings', OLD.collection_id, {day.format(r='t')}, -count(*) "
                 f"FROM status_transition AS t WHERE t.source_id = OLD.id AND t.to_status = 'vanished' GROUP BY 3")
    if dialect == 'sqlite':
        rows = ("{into} SELECT 'vanishings', s.collection_id, " + day.format(r='{r}') + ", {n} FROM source AS s "
                "WHERE s.id = {r}.source_id")
        return [
            f"CREATE TRIGGER tally_transition_ins AFTER INSERT ON status_transition WHEN NEW.to_status = 'vanished' "
            f"BEGIN {rows.format(into=into, r='NEW', n='1')}; END",
            f"CREATE TRIGGER tally_transition_del AFTER DELETE ON status_transition WHEN OLD.to_status = 'vanished' "
            f"BEGIN {rows.format(into=into, r='OLD', n='-1')}; END",
            f"CREATE TRIGGER tally_source_vanishings BEFORE DELETE ON source BEGIN {of_source}; END",
        ]
    rows = (f"{into} SELECT 'vanishings', s.collection_id, {day.format(r='r')}, {{n}} FROM tally_rows AS r "
            "JOIN source AS s ON s.id = r.source_id WHERE r.to_status = 'vanished' GROUP BY 2, 3")
    return [
        f"CREATE FUNCTION tally_transition_ins() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {rows.format(n='count(*)')}; RETURN NULL; END $$",
        f"CREATE FUNCTION tally_transition_del() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {rows.format(n='-count(*)')}; RETURN NULL; END $$",
        f"CREATE FUNCTION tally_source_vanishings() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {of_source}; RETURN OLD; END $$",
        "CREATE TRIGGER tally_transition_ins AFTER INSERT ON status_transition REFERENCING NEW TABLE AS tally_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION tally_transition_ins()",
        "CREATE TRIGGER tally_transition_del AFTER DELETE ON status_transition REFERENCING OLD TABLE AS tally_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION tally_transition_del()",
        "CREATE TRIGGER tally_source_vanishings BEFORE DELETE ON source FOR EACH ROW "
        "EXECUTE FUNCTION tally_source_vanishings()",
    ]


_VANISHING_TRIGGERS = (('tally_transition_ins', 'status_transition'), ('tally_transition_del', 'status_transition'),
                       ('tally_source_vanishings', 'source'))


def upgrade() -> None:
    op.create_table('tally',
                    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
                    sa.Column('name', sa.String(length=16), nullable=False),
                    sa.Column('collection_id', sa.BigInteger(), nullable=True),
                    sa.Column('key', sa.String(length=64), nullable=False),
                    sa.Column('n', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_source_collection_status_id', 'source', ['collection_id', 'status', 'id'])
    op.drop_index('ix_source_collection_status', table_name='source')
    changed = sa.text("outcome = 'changed'")
    op.create_index('ix_check_changed', 'check_result', ['source_id', 'checked_at'], postgresql_where=changed,
                    sqlite_where=changed)
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table in COUNTED:
        op.execute(f"INSERT INTO tally (name, collection_id, key, n) "
                   f"SELECT {_values(table, table, 'count(*)')} FROM {table} GROUP BY 2, 3")
        for statement in (_sqlite(table) if sqlite else _postgresql(table)):
            op.execute(statement)
    dialect = op.get_bind().dialect.name
    op.execute(f"INSERT INTO tally (name, collection_id, key, n) SELECT 'vanishings', s.collection_id, "
               f"{_DAY[dialect].format(r='t')}, count(*) FROM status_transition AS t "
               f"JOIN source AS s ON s.id = t.source_id WHERE t.to_status = 'vanished' GROUP BY 2, 3")
    for statement in _vanishings(dialect):
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for name, table in _VANISHING_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}" + ("" if sqlite else f" ON {table}"))
        if not sqlite:
            op.execute(f"DROP FUNCTION {name}()")
    for table in COUNTED:
        for op_ in ('ins', 'del', 'upd'):
            op.execute(f"DROP TRIGGER tally_{table}_{op_}" + ("" if sqlite else f" ON {table}"))
            if not sqlite:
                op.execute(f"DROP FUNCTION tally_{table}_{op_}()")
    op.drop_index('ix_check_changed', table_name='check_result')
    op.create_index('ix_source_collection_status', 'source', ['collection_id', 'status'])
    op.drop_index('ix_source_collection_status_id', table_name='source')
    op.drop_table('tally')
