"""words: what kept videos say and show (the words stage's tables)

words_run records each kept video's reading by a source (speech, screen): done with its language and line
count, or failed with its reason; text_line holds the lines with their seconds and source, for search.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-06 02:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'words_run',
        sa.Column('video_id', _ID, sa.ForeignKey('video.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('source', sa.String(length=16), primary_key=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('language', sa.String(length=16), nullable=True),
        sa.Column('lines', sa.Integer(), nullable=False),
        sa.Column('media_sha256', sa.String(length=64), nullable=True),
        sa.Column('record_uri', sa.Text(), nullable=True),
        sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'text_line',
        sa.Column('id', _ID, primary_key=True),
        sa.Column('video_id', _ID, sa.ForeignKey('video.id', ondelete='CASCADE'), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('start', sa.Float(), nullable=False),
        sa.Column('end', sa.Float(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=True),
        sa.Column('confidence', sa.Float(), nullable=True),
    )
    op.create_index('ix_text_line_video', 'text_line', ['video_id', 'start'])


def downgrade() -> None:
    op.drop_index('ix_text_line_video', 'text_line')
    op.drop_table('text_line')
    op.drop_table('words_run')
