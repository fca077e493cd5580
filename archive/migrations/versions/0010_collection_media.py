"""collection media: a per-collection switch for keeping videos' media, and the capture that holds a video's media

Media files now go into the WARC files (a response record under the media URL, or a resource record naming the
video); `video.media_capture_id` points at the capture row of that record. Existing collections keep media (the
new default); the loose `media/` objects of earlier crawls stay where they are, still named by `media_uri`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:00:00.000000
"""
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Migrations run with SQLite's foreign keys on: a batch "move and copy" of a table drops the old one, and that
# cascades to every row pointing at it. So `collection` is never rebuilt (SQLite adds and drops its plain column
# in place), and `video`, which SQLite must rebuild to add a foreign key, has the rows pointing at it
# (page_video) put back.
_page_video = sa.table('page_video', sa.column('page_source_id'), sa.column('video_id'), sa.column('found_as'),
                       sa.column('first_seen_at'))
_FK = 'fk_video_media_capture_id_capture'


def _rebuild_video(change: Callable[[BatchOperations], None]) -> None:
    """Change the video table in SQLite's move-and-copy way, keeping the page_video rows the drop cascades to."""
    bind = op.get_bind()
    links = [dict(row._mapping) for row in bind.execute(sa.select(_page_video))]
    with op.batch_alter_table('video', schema=None, recreate='always') as batch_op:
        change(batch_op)
    bind.execute(sa.delete(_page_video))
    if links:
        bind.execute(_page_video.insert(), links)


def _add_media_capture(batch_op: BatchOperations) -> None:
    batch_op.add_column(sa.Column('media_capture_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                  nullable=True))
    batch_op.create_foreign_key(_FK, 'capture', ['media_capture_id'], ['id'], ondelete='SET NULL')


def _drop_media_capture(batch_op: BatchOperations) -> None:
    batch_op.drop_constraint(_FK, type_='foreignkey')
    batch_op.drop_column('media_capture_id')


def upgrade() -> None:
    op.add_column('collection', sa.Column('media', sa.Boolean(), nullable=False, server_default=sa.true()))
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_video(_add_media_capture)
    else:
        with op.batch_alter_table('video', schema=None) as batch_op:
            _add_media_capture(batch_op)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_video(_drop_media_capture)
    else:
        with op.batch_alter_table('video', schema=None) as batch_op:
            _drop_media_capture(batch_op)
    op.drop_column('collection', 'media')
