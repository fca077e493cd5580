"""provider pauses and per-collection yt-dlp settings

provider_pause: a provider that answered with a bot check or a rate limit is not asked again until `until`,
in every process. collection.proxy and collection.cookies_file: what yt-dlp uses for that collection's videos.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 01:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('provider_pause',
                    sa.Column('provider', sa.String(length=32), nullable=False),
                    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('reason', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('provider'))
    # Plain ALTER TABLE, not a batch: SQLite's batch copies the table, and dropping the old collection table
    # would cascade to every source.
    op.add_column('collection', sa.Column('proxy', sa.Text(), nullable=True))
    op.add_column('collection', sa.Column('cookies_file', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('collection', 'cookies_file')  # SQLite >= 3.35 drops a column in place
    op.drop_column('collection', 'proxy')
    op.drop_table('provider_pause')
