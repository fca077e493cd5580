"""footage variants: a vanished video's frames hashed in all eight orientations, so mirrored or rotated copies of
its footage are found

footage_variant holds the hashes (each sampled frame's eight rotations and mirrors, and its top part) of
vanished videos only, so the archive-wide frame_hash stays one orientation per frame; footage_variant_print says
for which media they were made, or why they could not be.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 07:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    hash_type = postgresql.BIT(256) if op.get_bind().dialect.name == 'postgresql' else sa.LargeBinary(32)
    op.create_table(
        'footage_variant_print',
        sa.Column('video_id', _ID, sa.ForeignKey('video.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('frames', sa.Integer(), nullable=False),
        sa.Column('media_sha256', sa.String(length=64), nullable=True),
        sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'footage_variant',
        sa.Column('id', _ID, primary_key=True),
        sa.Column('video_id', _ID, sa.ForeignKey('video.id', ondelete='CASCADE'), nullable=False),
        sa.Column('second', sa.Float(), nullable=False),
        sa.Column('hash', hash_type, nullable=False),
    )
    op.create_index('ix_footage_variant_video', 'footage_variant', ['video_id'])


def downgrade() -> None:
    op.drop_index('ix_footage_variant_video', 'footage_variant')
    op.drop_table('footage_variant')
    op.drop_table('footage_variant_print')
