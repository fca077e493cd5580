"""capture mode: a collection's pages fetched over HTTP, rendered in a browser, or chosen per page (auto)

A page captured in a browser keeps, beside its response record (the bytes as received), a record of the DOM
the browser rendered; the capture row says where, so its description reads the text only the browser saw.

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-06 03:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite has ADD and DROP COLUMN): a batch copy would drop the capture table's triggers
    op.add_column('collection', sa.Column('capture_mode', sa.String(length=8), nullable=True))
    op.add_column('capture', sa.Column('rendered_offset', sa.BigInteger(), nullable=True))
    op.add_column('capture', sa.Column('rendered_length', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('capture', 'rendered_length')
    op.drop_column('capture', 'rendered_offset')
    op.drop_column('collection', 'capture_mode')
