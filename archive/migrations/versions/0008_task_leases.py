"""task leases: work handed to Celery tasks, claimed by one worker at a time

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 01:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'task_lease',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('task_id', sa.String(length=64), nullable=False),
        sa.Column('holder', sa.String(length=200), nullable=True),
        sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'key', name='uq_task_lease_kind_key'),
    )
    with op.batch_alter_table('task_lease', schema=None) as batch_op:
        batch_op.create_index('ix_task_lease_task', ['task_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task_lease', schema=None) as batch_op:
        batch_op.drop_index('ix_task_lease_task')
    op.drop_table('task_lease')
