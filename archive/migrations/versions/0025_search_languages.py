"""search_document's languages indexed: a query is read only in the languages the archive's documents are in

PostgreSQL matches a document through the tsquery of its own language's configuration, so a query need not be
read in the others; the languages in use are found by a skip scan of this index (one probe each), not by
scanning the documents. Every extra reading costs the GIN index and the ranking of each candidate.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 07:45:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_search_document_language', 'search_document', ['language'])


def downgrade() -> None:
    op.drop_index('ix_search_document_language', table_name='search_document')
