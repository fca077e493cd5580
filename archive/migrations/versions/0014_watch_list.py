"""watch list: paused and deleted sources and collections, capture retries, a collection's Wayback switch

Source and Collection get paused_at and deleted_at (a paused or deleted one is never checked or captured; a
deleted one keeps its captures and WARC files until an admin purges it); Source gets capture_failures and
capture_retry_at (a failed capture is retried with the one backoff formula, and says when); Collection gets
wayback (whether its captures go to the Wayback target; on for every existing collection). A new table,
subscription, holds the feeds and sitemaps collections follow.

Plain ADD COLUMN on every table: a SQLite batch rebuild would drop 0012's tally triggers and cascade deletes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 01:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ('source', 'paused_at', sa.DateTime(timezone=True), None),
    ('source', 'deleted_at', sa.DateTime(timezone=True), None),
    ('source', 'capture_failures', sa.Integer(), sa.text('0')),
    ('source', 'capture_retry_at', sa.DateTime(timezone=True), None),
    ('collection', 'paused_at', sa.DateTime(timezone=True), None),
    ('collection', 'deleted_at', sa.DateTime(timezone=True), None),
    ('collection', 'wayback', sa.Boolean(), sa.true()),
)


def upgrade() -> None:
    for table, name, type_, default in _COLUMNS:
        op.add_column(table, sa.Column(name, type_, nullable=default is None, server_default=default))
    op.create_table('subscription',
                    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
                    sa.Column('collection_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
                    sa.Column('url', sa.Text(), nullable=False),
                    sa.Column('url_hash', sa.String(length=64), nullable=False),
                    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('last_polled_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('next_poll_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('format', sa.String(length=16), nullable=True),
                    sa.Column('last_added', sa.Integer(), nullable=False),
                    sa.Column('total_added', sa.BigInteger(), nullable=False),
                    sa.Column('last_error', sa.Text(), nullable=True),
                    sa.ForeignKeyConstraint(['collection_id'], ['collection.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('collection_id', 'url_hash', name='uq_subscription_collection_url'))
    op.create_index('ix_subscription_next_poll', 'subscription', ['next_poll_at'])


def downgrade() -> None:
    op.drop_index('ix_subscription_next_poll', table_name='subscription')
    op.drop_table('subscription')
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, name, _, _ in reversed(_COLUMNS):
        if sqlite:  # in place (SQLite >= 3.35): a batch copy would cascade-delete and drop the tally triggers
            op.execute(f'ALTER TABLE {table} DROP COLUMN {name}')
        else:
            op.drop_column(table, name)
