"""capture url hash: every copy of a URL found by Memento, whichever source it was fetched for

A crawl now archives each hop of a redirect as its own capture (the 301 under the URL that answered it, the
page under the URL that gave it), so a TimeMap looks captures up by their own URL, not by their source's.
Upgrading fills the new column from each capture's URL (archive.urls.url_key, as the crawl writes it).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from archive.urls import url_key

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_captures = sa.table('capture', sa.column('id', sa.BigInteger), sa.column('url', sa.Text),
                     sa.column('url_hash', sa.String))


def upgrade() -> None:
    with op.batch_alter_table('capture', schema=None) as batch_op:
        batch_op.add_column(sa.Column('url_hash', sa.String(length=64), nullable=True))
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(sa.select(_captures.c.id, _captures.c.url).where(_captures.c.id > after)
                                  .order_by(_captures.c.id).limit(_BATCH)).all()
        if not rows:
            break
        connection.execute(_captures.update().where(_captures.c.id == sa.bindparam('row_id'))
                           .values(url_hash=sa.bindparam('key')),
                           [{'row_id': row.id, 'key': url_key(row.url)} for row in rows])
        after = rows[-1].id
    with op.batch_alter_table('capture', schema=None) as batch_op:
        batch_op.alter_column('url_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index('ix_capture_url_time', ['url_hash', 'captured_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('capture', schema=None) as batch_op:
        batch_op.drop_index('ix_capture_url_time')
        batch_op.drop_column('url_hash')
