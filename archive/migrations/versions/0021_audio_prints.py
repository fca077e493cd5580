"""audio prints: each kept video's soundtrack fingerprint (Chromaprint), to find its sound again

audio_print holds the raw 32-bit items fpcalc gives (little-endian, about eight a second) with the seconds of
sound they cover; crops, banners and mirroring leave a soundtrack's fingerprint unchanged.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 04:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'audio_print',
        sa.Column('video_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), sa.ForeignKey('video.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('items', sa.LargeBinary(), nullable=False),
        sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('audio_print')
