"""video kinds: sources whose URL names a video become videos

Until now only videos found on a page were of kind `video`; a YouTube, Vimeo, Telegram... URL added directly
was tracked as a `page`, and checked as one. Upgrading re-kinds every `page` source whose normalized URL a
provider of archive.providers recognizes, and gives it its video row (provider, id, canonical URL) when it
has none. Downgrading cannot tell those from videos given as such, so it leaves them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 01:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from archive.providers import recognize

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000

_sources = sa.table('source', sa.column('id', sa.BigInteger), sa.column('normalized_url', sa.Text),
                    sa.column('kind', sa.String))
_videos = sa.table('video', sa.column('source_id', sa.BigInteger), sa.column('provider', sa.String),
                   sa.column('video_id', sa.Text), sa.column('canonical_url', sa.Text))


def upgrade() -> None:
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(_sources.c.id, _sources.c.normalized_url)
            .where(_sources.c.kind == 'page', _sources.c.id > after).order_by(_sources.c.id).limit(_BATCH)).all()
        if not rows:
            return
        after = rows[-1].id
        found = {row.id: recognize(row.normalized_url) for row in rows}
        found = {source_id: ref for source_id, ref in found.items() if ref is not None}
        if not found:
            continue
        connection.execute(_sources.update().where(_sources.c.id.in_(list(found))).values(kind='video'))
        have = set(connection.scalars(sa.select(_videos.c.source_id).where(_videos.c.source_id.in_(list(found)))))
        rows_to_add = [{'source_id': source_id, 'provider': ref[0], 'video_id': ref[1], 'canonical_url': ref[2]}
                       for source_id, ref in found.items() if source_id not in have]
        if rows_to_add:
            connection.execute(_videos.insert(), rows_to_add)


def downgrade() -> None:
    """Nothing to undo: a video source stays one."""
