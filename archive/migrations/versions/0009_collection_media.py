"""collection media: a per-collection switch for keeping videos' media, and the capture that holds a video's media

Media files now go into the WARC files (a response record under the media URL, or a resource record naming the
video); `video.media_capture_id` points at the capture row of that record. Existing collections keep media (the
new default); the loose `media/` objects of earlier crawls stay where they are, still named by `media_uri`.

Revision ID: 0009
Revises: 0004 (the lead re-chains it after the newest revision when merging)
Create Date: 2026-12-01 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('collection', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('collection', schema=None) as batch_op:
        batch_op.alter_column('media', server_default=None)
    with op.batch_alter_table('video', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_capture_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_foreign_key('fk_video_media_capture_id_capture', 'capture', ['media_capture_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('video', schema=None) as batch_op:
        batch_op.drop_constraint('fk_video_media_capture_id_capture', type_='foreignkey')
        batch_op.drop_column('media_capture_id')
    with op.batch_alter_table('collection', schema=None) as batch_op:
        batch_op.drop_column('media')
