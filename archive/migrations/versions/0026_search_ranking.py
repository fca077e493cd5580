"""search: the GIN index keys each document by its bucket of 65,536 ids beside its tsvector; a small lead_tsv ranks

A search then reads the newest two buckets' matches first, and all older ones only when those hold too few to rank:
two common words cost a bucket's postings instead of the whole archive's (the bitmap of every match was built
before any LIMIT applied: 16-23 ms at a million pages). The bucket is an array so GIN's built-in array operators
hold it (no extension); the index has no pending list, which each of a search's three scans would read again.

lead_tsv (the title, authors and the text's first 600 characters) is what a search ranks by: it stays in the row,
where the whole tsvector is TOASTed and reading it back was most of a search's time. Documents indexed before have
none and are ranked by their whole vector until indexed again. SQLite's FTS5 is unchanged.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 10:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('search_document', sa.Column('lead_tsv', postgresql.TSVECTOR().with_variant(sa.Text(), 'sqlite'),
                                               nullable=True))
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_index('ix_search_document_tsv', table_name='search_document')
    op.create_index('ix_search_document_tsv', 'search_document', [sa.text('(ARRAY[id / 65536])'), 'tsv'],
                    postgresql_using='gin', postgresql_with={'fastupdate': 'off'})


def downgrade() -> None:
    op.execute('ALTER TABLE search_document DROP COLUMN lead_tsv')  # not batch: SQLite keeps search_fts's triggers
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_index('ix_search_document_tsv', table_name='search_document')
    op.create_index('ix_search_document_tsv', 'search_document', ['tsv'], postgresql_using='gin')
