"""The answers of `lastseen similar` and GET/POST /api/similar, one shape for both: archived videos holding the
footage of a tracked video, a media file or a picture, and, for a picture, the captured images that show it.

Each answer is a dict: the video's url, title and status with its seconds (a picture) or its share and
segments (a video); a captured image gives its url, the page it was kept from and its distance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.footage.frames import FootageError, Limits, read_image
from archive.footage.hashes import MATCH_BITS
from archive.footage.images import images_near
from archive.footage.index import open_index
from archive.footage.links import ImagePrint
from archive.footage.match import VideoMatch
from archive.footage.similar import (
    PictureMatch,
    find_picture,
    find_video,
    is_picture,
    picture_hashes,
    stored_queries,
    video_queries,
)
from archive.models import Requisite, Source, Video
from archive.sources import find_sources
from archive.urls import InvalidURL


class NotTracked(FootageError):
    """A URL that names no tracked video, or one not fingerprinted yet."""


def describe_videos(session: Session, video_ids: set[int]) -> dict[int, dict[str, Any]]:
    """URL, title and status of the matched videos, by id."""
    rows = session.execute(select(Video.id, Source.url, Video.title, Source.status)
                           .join(Source, Source.id == Video.source_id).where(Video.id.in_(video_ids)))
    return {row.id: {"url": row.url, "title": row.title, "status": row.status} for row in rows}


def match_fields(match: VideoMatch | PictureMatch) -> dict[str, Any]:
    """A match's JSON fields: a picture's seconds, or a video's share and segments."""
    if isinstance(match, PictureMatch):
        return {"seconds": list(match.seconds), "distance": match.distance}
    return {"share": match.share, "matched_frames": match.matched_frames, "query_frames": match.query_frames,
            "best_distance": match.best_distance,
            "segments": [{"start": s.start, "end": s.end, "query_start": s.query_start, "query_end": s.query_end}
                         for s in match.segments]}


def videos_answer(session: Session, found: list[VideoMatch] | list[PictureMatch]) -> list[dict[str, Any]]:
    """Matches as answers, with each video's URL, title and status."""
    about = describe_videos(session, {match.video_id for match in found})
    return [{**about[m.video_id], **match_fields(m)} for m in found]


def images_answer(session: Session, hashes: list[bytes], scope: int | None) -> list[dict[str, Any]]:
    """Captured images showing the picture: the image's URL, the page it was kept from, closest first."""
    hits = images_near(session, [(0.0, h) for h in hashes], MATCH_BITS, scope)
    closest: dict[int, int] = {}
    for hit in hits:
        closest[hit.image_id] = min(hit.distance, closest.get(hit.image_id, hit.distance))
    answers = []
    for image_id, distance in sorted(closest.items(), key=lambda item: (item[1], item[0])):
        url, page_id = session.execute(select(Requisite.url, Requisite.page_source_id).join(
            ImagePrint, ImagePrint.requisite_id == Requisite.id).where(ImagePrint.id == image_id)).one()
        page = session.get(Source, page_id) if page_id else None
        answers.append({"image_url": url, "page": page.url if page else None, "distance": distance})
    return answers


def tracked_queries(session: Session, url: str) -> tuple[int, list[tuple[float, bytes]]]:
    """A tracked video's id and its stored frame hashes as a query; NotTracked when it has none."""
    try:
        ids = [source.id for source in find_sources(session, url)]
    except InvalidURL as exc:
        raise NotTracked(str(exc)) from None
    video = session.scalar(select(Video).where(Video.source_id.in_(ids))) if ids else None
    if video is None:
        raise NotTracked(f"not a tracked video: {url}")
    queries = stored_queries(session, video.id)
    if not queries:
        raise NotTracked(f"{url} has no fingerprint yet (run `lastseen fingerprint`)")
    return video.id, queries


def similar_to_url(session: Session, url: str, share: float, scope: int | None) -> list[dict[str, Any]]:
    """Archived videos holding a tracked video's footage (from its stored fingerprint)."""
    video_id, queries = tracked_queries(session, url)
    return videos_answer(session, find_video(open_index(session, scope), queries, share, exclude=video_id))


def similar_to_file(session: Session, path: Path, share: float, per_second: float, limits: Limits,
                    scope: int | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Archived videos holding a picture's or a media file's footage, and captured images showing the picture."""
    index = open_index(session, scope)
    if is_picture(path):
        hashes = picture_hashes(read_image(path))
        return videos_answer(session, find_picture(index, path)), images_answer(session, hashes, scope)
    return videos_answer(session, find_video(index, video_queries(path, per_second, limits), share)), []
