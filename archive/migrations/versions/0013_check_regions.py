"""check regions: checks from several regions, and the collections that ask for them

Collection.regions lists the regions a collection's sources are checked from (None: anywhere, as one region);
Check.region is the region a check was made from (None: the unnamed region, "default", as every check before);
TaskLease.kind grows to hold check.<region> (a queue and lease kind per region).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 06:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('collection', sa.Column('regions', sa.JSON(), nullable=True))
    op.add_column('check_result', sa.Column('region', sa.String(length=32), nullable=True))
    # task_lease is no table's parent: batch mode may copy it on SQLite (nothing cascades).
    with op.batch_alter_table('task_lease') as batch:
        batch.alter_column('kind', existing_type=sa.String(length=16), type_=sa.String(length=48),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('task_lease') as batch:
        batch.alter_column('kind', existing_type=sa.String(length=48), type_=sa.String(length=16),
                           existing_nullable=False)
    for table, name in (('check_result', 'region'), ('collection', 'regions')):
        if op.get_bind().dialect.name == 'sqlite':
            # In place (SQLite >= 3.35): a batch copy of `collection` would cascade-delete its sources.
            op.execute(f'ALTER TABLE {table} DROP COLUMN {name}')
        else:
            op.drop_column(table, name)
