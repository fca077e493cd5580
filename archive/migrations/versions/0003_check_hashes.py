"""check hashes: the change-detection baseline moves out of Check.detail into columns

A `changed` check used to write its hash into its detail (`...; text_sha256=<hex>` or `payload_sha256=<hex>`),
and the next checks read it back with a regular expression. The hash now has its own columns; upgrading moves
each old mark from the detail into them, downgrading writes them back into the detail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000
"""
import re
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the checks of revision 0002 wrote and read back: the first mark in the detail.
_MARK = re.compile(r"(?:; )?\b(text|payload)_sha256=([0-9a-f]{64})\b")
_BATCH = 1000

_checks = sa.table('check_result', sa.column('id', sa.BigInteger), sa.column('detail', sa.Text),
                   sa.column('text_sha256', sa.String), sa.column('payload_sha256', sa.String))


def _pages(connection: sa.Connection, condition: sa.ColumnElement[bool]) -> Iterator[list[sa.Row]]:
    """Rows of check_result meeting condition, a batch at a time, by id."""
    after = 0
    while True:
        rows = connection.execute(
            sa.select(_checks.c.id, _checks.c.detail, _checks.c.text_sha256, _checks.c.payload_sha256)
            .where(condition, _checks.c.id > after).order_by(_checks.c.id).limit(_BATCH)).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _write(connection: sa.Connection, values: list[dict[str, object]]) -> None:
    """Store detail and hashes of these rows (by row_id)."""
    if values:
        connection.execute(_checks.update().where(_checks.c.id == sa.bindparam('row_id')).values(
            detail=sa.bindparam('new_detail'), text_sha256=sa.bindparam('text'),
            payload_sha256=sa.bindparam('payload')), values)


def _from_detail(row: sa.Row) -> dict[str, object] | None:
    """The row's mark moved out of its detail into the columns; None when the detail holds none."""
    mark = _MARK.search(row.detail or '')
    if mark is None:
        return None
    kind, digest = mark.groups()
    return {'row_id': row.id, 'new_detail': row.detail[:mark.start()] + row.detail[mark.end():],
            'text': digest if kind == 'text' else None, 'payload': digest if kind == 'payload' else None}


def _into_detail(row: sa.Row) -> dict[str, object]:
    """The row's hash written back into its detail, as revision 0002 reads it."""
    kind, digest = ('text', row.text_sha256) if row.text_sha256 else ('payload', row.payload_sha256)
    return {'row_id': row.id, 'new_detail': f"{row.detail}; {kind}_sha256={digest}", 'text': None, 'payload': None}


def upgrade() -> None:
    with op.batch_alter_table('check_result', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('payload_sha256', sa.String(length=64), nullable=True))
    connection = op.get_bind()
    for rows in _pages(connection, _checks.c.detail.like('%sha256=%')):
        _write(connection, [moved for moved in map(_from_detail, rows) if moved is not None])


def downgrade() -> None:
    connection = op.get_bind()
    hashed = sa.or_(_checks.c.text_sha256.is_not(None), _checks.c.payload_sha256.is_not(None))
    for rows in _pages(connection, hashed):
        _write(connection, [_into_detail(row) for row in rows])
    with op.batch_alter_table('check_result', schema=None) as batch_op:
        batch_op.drop_column('payload_sha256')
        batch_op.drop_column('text_sha256')
