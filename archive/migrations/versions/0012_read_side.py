"""read side at scale: tallies kept by triggers, and the indexes of keyset pages and a collection's vanishings

The `tally` table holds counts as +n/-n rows that triggers add whenever a source, a check or a capture is
inserted, deleted, or has its counted columns changed (COPY, cascades and raw SQL included); archive.tally sums
them and folds them together now and then. Sources are counted by collection and status, checks by outcome,
captures by record type and HTTP status class: /metrics and the dashboard no longer count millions of rows.
On PostgreSQL inserts and deletes are counted once per statement (transition tables), so COPY and
executemany add a few rows, not one per row; only rows, no counter, are written: writers never wait on each other.

Sources get (collection_id, status, id): a page of a filtered list is read in id order from the index, and a
collection's source ids come from the index alone. Transitions get (to_status, source_id, at): a collection's
vanishings without reading every transition.

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
    op.create_index('ix_transition_to_status', 'status_transition', ['to_status', 'source_id', 'at'])
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table in COUNTED:
        op.execute(f"INSERT INTO tally (name, collection_id, key, n) "
                   f"SELECT {_values(table, table, 'count(*)')} FROM {table} GROUP BY 2, 3")
        for statement in (_sqlite(table) if sqlite else _postgresql(table)):
            op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table in COUNTED:
        for op_ in ('ins', 'del', 'upd'):
            op.execute(f"DROP TRIGGER tally_{table}_{op_}" + ("" if sqlite else f" ON {table}"))
            if not sqlite:
                op.execute(f"DROP FUNCTION tally_{table}_{op_}()")
    op.drop_index('ix_transition_to_status', table_name='status_transition')
    op.create_index('ix_source_collection_status', 'source', ['collection_id', 'status'])
    op.drop_index('ix_source_collection_status_id', table_name='source')
    op.drop_table('tally')
