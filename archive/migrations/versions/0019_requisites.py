"""requisites: what pages need (images, styles, fonts, scripts), archived beside them and found by URL

A requisite is no source (never checked): its copies are rows of their own, so the next crawl writes a revisit
record for an unchanged one and an export finds the WARC files that hold them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 01:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('requisite',
    sa.Column('id', _ID, nullable=False),
    sa.Column('collection_id', _ID, nullable=False),
    sa.Column('page_source_id', _ID, nullable=True),
    sa.Column('captured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('url_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('content_type', sa.String(length=255), nullable=True),
    sa.Column('payload_sha256', sa.String(length=64), nullable=False),
    sa.Column('payload_digest', sa.String(length=64), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('record_type', sa.String(length=16), nullable=False),
    sa.Column('warc_uri', sa.Text(), nullable=False),
    sa.Column('warc_offset', sa.BigInteger(), nullable=False),
    sa.Column('warc_length', sa.BigInteger(), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['collection_id'], ['collection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['page_source_id'], ['source.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_requisite_url_time', 'requisite', ['collection_id', 'url_hash', 'captured_at'])


def downgrade() -> None:
    op.drop_index('ix_requisite_url_time', table_name='requisite')
    op.drop_table('requisite')
