"""footage matches: captured images' hashes, footage found again, and reappearance alerts without a transition

image_print holds a PDQ hash per distinct captured image; footage_search says when each fingerprinted video was
compared with the archive (as a new capture, and once it vanished); footage_match links a video to a copy of
its footage elsewhere and carries the one alert about it. alert.transition_id becomes optional: a reappearance
alert belongs to a match, not to a status change, so the status tallies (triggers on status_transition) never
count it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 04:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    hash_type = postgresql.BIT(256) if op.get_bind().dialect.name == 'postgresql' else sa.LargeBinary(32)
    op.create_table(
        'image_print',
        sa.Column('id', _ID, primary_key=True),
        sa.Column('payload_sha256', sa.String(length=64), nullable=False, unique=True),
        sa.Column('requisite_id', _ID, sa.ForeignKey('requisite.id', ondelete='CASCADE'), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('quality', sa.SmallInteger(), nullable=False),
        sa.Column('hash', hash_type, nullable=True),
        sa.Column('top_hash', hash_type, nullable=True),
        sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('compared_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        'footage_search',
        sa.Column('video_id', _ID, sa.ForeignKey('video.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('media_sha256', sa.String(length=64), nullable=True),
        sa.Column('compared_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('vanished_search_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        'footage_match',
        sa.Column('id', _ID, primary_key=True),
        sa.Column('video_id', _ID, sa.ForeignKey('video.id', ondelete='CASCADE'), nullable=False),
        sa.Column('found_key', sa.String(length=80), nullable=False),
        sa.Column('found_video_id', _ID, sa.ForeignKey('video.id', ondelete='CASCADE'), nullable=True),
        sa.Column('found_image_id', _ID, sa.ForeignKey('image_print.id', ondelete='CASCADE'), nullable=True),
        sa.Column('where_url', sa.Text(), nullable=False),
        sa.Column('media_url', sa.Text(), nullable=False),
        sa.Column('share', sa.Float(), nullable=False),
        sa.Column('matched_frames', sa.Integer(), nullable=False),
        sa.Column('query_frames', sa.Integer(), nullable=False),
        sa.Column('best_distance', sa.SmallInteger(), nullable=False),
        sa.Column('segments', sa.JSON(), nullable=False),
        sa.Column('found_captured_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('matched_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('alert_id', _ID, sa.ForeignKey('alert.id', ondelete='SET NULL'), nullable=True),
        sa.Column('alerted_at', sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint('video_id', 'found_key', name='uq_footage_match_found'),
    )
    op.create_index('ix_footage_match_video_id', 'footage_match', ['video_id'])
    with op.batch_alter_table('alert') as batch_op:
        batch_op.alter_column('transition_id', existing_type=_ID, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM alert WHERE transition_id IS NULL")
    with op.batch_alter_table('alert') as batch_op:
        batch_op.alter_column('transition_id', existing_type=_ID, nullable=False)
    op.drop_index('ix_footage_match_video_id', 'footage_match')
    op.drop_table('footage_match')
    op.drop_table('footage_search')
    op.drop_table('image_print')
