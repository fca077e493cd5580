"""What `lastseen status` and a video's dashboard page say of its footage found elsewhere: when it reappeared
after it vanished (the first copy alerted), every copy with where and which seconds, and the archived videos
whose footage this one holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from archive.footage.links import FootageMatch
from archive.models import Source, Video
from archive.timefmt import iso

Copy = aliased(Video)


def footage_of(session: Session, source_id: int) -> dict[str, Any]:
    """`reappeared_at` (first alerted copy, None while none), `footage_elsewhere` (every stored copy) and
    `footage_from` (the videos whose footage this one holds)."""
    rows = session.scalars(select(FootageMatch).join(Video, Video.id == FootageMatch.video_id)
                           .where(Video.source_id == source_id).order_by(FootageMatch.matched_at, FootageMatch.id))
    copies = [{"where": m.where_url, "media_url": m.media_url, "image": m.found_image_id is not None,
               "matched_at": iso(m.matched_at), "alerted_at": iso(m.alerted_at), "share": m.share,
               "best_distance": m.best_distance, "segments": m.segments,
               "kept_at": iso(m.found_captured_at)} for m in rows]
    alerted = [c for c in copies if c["alerted_at"]]
    originals = session.execute(
        select(FootageMatch, Source.url, Source.status).join(Video, Video.id == FootageMatch.video_id)
        .join(Source, Source.id == Video.source_id).join(Copy, Copy.id == FootageMatch.found_video_id)
        .where(Copy.source_id == source_id).order_by(FootageMatch.id))
    return {"reappeared_at": alerted[0]["alerted_at"] if alerted else None,
            "reappeared_where": alerted[0]["where"] if alerted else None, "footage_elsewhere": copies,
            "footage_from": [{"url": url, "status": status, "share": m.share, "segments": m.segments}
                             for m, url, status in originals]}
