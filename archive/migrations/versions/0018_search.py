"""search over the archive: search_document, with a GIN-indexed tsvector on PostgreSQL and FTS5 on SQLite

Each row is one searchable text (a page's title, authors and main text; a video's title, uploader and
description) under a key its producer chooses, so indexing it again replaces it. PostgreSQL keeps a weighted
tsvector in the document's language (written with the row); SQLite keeps an external-content FTS5 table,
search_fts, that triggers keep in step with search_document.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 01:45:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FTS_COLUMNS = "title, authors, body"
_SQLITE = [
    f"CREATE VIRTUAL TABLE search_fts USING fts5({_FTS_COLUMNS}, content='search_document', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER search_fts_ins AFTER INSERT ON search_document BEGIN INSERT INTO search_fts(rowid, "
    f"{_FTS_COLUMNS}) VALUES (new.id, new.title, new.authors, new.body); END",
    f"CREATE TRIGGER search_fts_del AFTER DELETE ON search_document BEGIN INSERT INTO search_fts(search_fts, rowid, "
    f"{_FTS_COLUMNS}) VALUES ('delete', old.id, old.title, old.authors, old.body); END",
    f"CREATE TRIGGER search_fts_upd AFTER UPDATE ON search_document BEGIN INSERT INTO search_fts(search_fts, rowid, "
    f"{_FTS_COLUMNS}) VALUES ('delete', old.id, old.title, old.authors, old.body); INSERT INTO search_fts(rowid, "
    f"{_FTS_COLUMNS}) VALUES (new.id, new.title, new.authors, new.body); END",
]


def upgrade() -> None:
    op.create_table(
        'search_document',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('source_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('capture_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=True),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('authors', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('indexed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('tsv', postgresql.TSVECTOR().with_variant(sa.Text(), 'sqlite'), nullable=True),
        sa.ForeignKeyConstraint(['source_id'], ['source.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['capture_id'], ['capture.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_search_document_source', 'search_document', ['source_id'])
    # On SQLite the column stays empty (search_fts does the work): the index is the model's, and costs nothing.
    op.create_index('ix_search_document_tsv', 'search_document', ['tsv'], postgresql_using='gin')
    if op.get_bind().dialect.name == 'sqlite':
        for statement in _SQLITE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in ('search_fts_ins', 'search_fts_del', 'search_fts_upd'):
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
        op.execute('DROP TABLE IF EXISTS search_fts')
    op.drop_table('search_document')
