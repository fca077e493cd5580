"""check validators: what the last check saw of a page, so the next asks conditionally and compares by hash

Source.check_etag and Source.check_last_modified hold the validators of the last alive check's answer (sent
back as If-None-Match / If-Modified-Since: a 304 means unchanged and alive), Source.check_sha256 the hash of
its body (the same bytes again need no parsing).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 01:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_COLUMNS = (('check_etag', 512), ('check_last_modified', 64), ('check_sha256', 64))


def upgrade() -> None:
    for name, size in _COLUMNS:
        op.add_column('source', sa.Column(name, sa.String(length=size), nullable=True))


def downgrade() -> None:
    for name, _size in reversed(_COLUMNS):
        if op.get_bind().dialect.name == 'sqlite':
            # In place (SQLite >= 3.35), not by batch mode's table copy: dropping the old `source` table would
            # cascade-delete every source's checks, captures and transitions.
            op.execute(f'ALTER TABLE source DROP COLUMN {name}')
        else:
            op.drop_column('source', name)
