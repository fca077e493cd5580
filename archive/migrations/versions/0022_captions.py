"""search_document.second: the second of a video where a searchable line (caption, speech, on-screen text) is

A hit on a line of a video's words carries the second it is said or shown, so its link plays the archived video
from there (#t=SECOND). Pages and videos' metadata leave it empty.

Revision ID: 0022
Revises: 0019
Create Date: 2026-12-06 04:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy), so SQLite keeps migration 0018's FTS5 triggers on the table.
    op.add_column('search_document', sa.Column('second', sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column('search_document', 'second')
