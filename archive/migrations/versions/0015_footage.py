"""footage: fingerprints of kept videos (the footage stage's tables)

footage_print records each kept video's fingerprinting (done, or failed with its reason); frame_hash holds
its sampled frames' PDQ hashes, bit(256) on PostgreSQL so the exact scan runs in the database.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 01:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'footage_print',
        sa.Column('video_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), sa.ForeignKey('video.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('frames', sa.Integer(), nullable=False),
        sa.Column('media_sha256', sa.String(length=64), nullable=True),
        sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    )
    hash_type = postgresql.BIT(256) if op.get_bind().dialect.name == 'postgresql' else sa.LargeBinary(32)
    op.create_table(
        'frame_hash',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), primary_key=True),
        sa.Column('video_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), sa.ForeignKey('video.id', ondelete='CASCADE'), nullable=False),
        sa.Column('second', sa.Float(), nullable=False),
        sa.Column('quality', sa.SmallInteger(), nullable=False),
        sa.Column('hash', hash_type, nullable=False),
    )
    op.create_index('ix_frame_hash_video', 'frame_hash', ['video_id', 'second'])


def downgrade() -> None:
    op.drop_index('ix_frame_hash_video', 'frame_hash')
    op.drop_table('frame_hash')
    op.drop_table('footage_print')
