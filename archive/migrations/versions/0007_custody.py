"""custody record, per-collection screenshots

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 00:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('custody_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('collection', sa.String(length=200), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('subject_hash', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('custody_event', schema=None) as batch_op:
        batch_op.create_index('ix_custody_collection_time', ['collection', 'at'], unique=False)
        batch_op.create_index('ix_custody_subject', ['subject_hash'], unique=False)
    # Plain ALTER TABLE, not a batch: SQLite's batch copies the table, and dropping the old copy would
    # cascade to every source (foreign keys are on).
    op.add_column('collection', sa.Column('screenshots', sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column('collection', 'screenshots')  # ALTER TABLE ... DROP COLUMN (SQLite 3.35+)
    with op.batch_alter_table('custody_event', schema=None) as batch_op:
        batch_op.drop_index('ix_custody_subject')
        batch_op.drop_index('ix_custody_collection_time')
    op.drop_table('custody_event')
