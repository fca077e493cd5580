"""Footage found again: new captures compared with the archive, vanished videos searched for, matches stored,
and one alert for each copy of a vanished video's footage.

Both sides of a pair come from one lookup: a video's frame hashes meet another's, so the share of each video's
frames found in the other is known at once. A pair matches when either share reaches the setting: a copy may
be an excerpt (all of its frames from the original) or a longer report (all of the original inside it). A
captured image matches a video when it is one of its frames. Searches stay within the video's collection.

A vanished video is also looked for mirrored and rotated: its variants (archive.footage.variants) are its query
when it is searched for, and each new capture is compared with the vanished videos' variants too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive.footage.hashes import MATCH_BITS
from archive.footage.images import images_near
from archive.footage.index import open_index
from archive.footage.links import FootageMatch, FootageSearch, ImagePrint
from archive.footage.match import Hit, score
from archive.footage.similar import stored_queries
from archive.footage.tables import Fingerprint, VariantPrint
from archive.footage.variants import VariantTable, seconds_of, variant_queries
from archive.models import Alert, Capture, Collection, PageVideo, Requisite, Source, Video, utcnow
from archive.timefmt import iso
from archive.vocab import REAPPEARED, SourceStatus

BATCH = 200  # videos or images compared per round


@dataclass
class Found:
    """What one round found: pairs compared, matches stored, alerts made."""

    compared: int = 0
    searched: int = 0
    matches: int = 0
    alerts: int = 0


def _collection_of(session: Session, video_id: int) -> int:
    return session.scalar(select(Source.collection_id).join(Video, Video.source_id == Source.id)
                          .where(Video.id == video_id))


def _variants(session: Session, tables: dict[int, VariantTable], collection_id: int) -> VariantTable:
    """The collection's vanished videos' variants, read once a round."""
    if collection_id not in tables:
        tables[collection_id] = VariantTable(session, collection_id)
    return tables[collection_id]


def video_pairs(session: Session, video_id: int, queries: list[tuple[float, bytes]], share: float,
                variants: dict[int, VariantTable] | None = None) -> list[dict[str, Any]]:
    """Other videos of its collection sharing footage with this one's queries (its stored hashes, or its variants
    too): each side's share and the segments; given `variants`, vanished videos' variants are looked at too."""
    own = len({second for second, _ in queries})
    if not own:
        return []
    collection_id = _collection_of(session, video_id)
    hits = open_index(session, collection_id).near(queries, MATCH_BITS)
    if variants is not None:
        hits += _variants(session, variants, collection_id).near(queries, MATCH_BITS)
    hits = [hit for hit in hits if hit.video_id != video_id]
    totals = seconds_of(session, {hit.video_id for hit in hits})
    by_video: dict[int, list[Hit]] = defaultdict(list)
    for hit in hits:
        by_video[hit.video_id].append(hit)
    pairs = []
    for other, found in by_video.items():
        mine = score(found, own, 0.0)[0]  # this video's seconds found in the other, with segments
        theirs = len({hit.second for hit in found}) / max(totals.get(other, 1), 1)
        if max(mine.share, theirs) + 1e-9 < share:
            continue
        pairs.append({"other": other, "share": mine.share, "other_share": round(min(theirs, 1.0), 4),
                      "matched_frames": mine.matched_frames, "query_frames": own,
                      "best_distance": mine.best_distance,
                      "segments": [{"start": s.query_start, "end": s.query_end, "other_start": s.start,
                                    "other_end": s.end} for s in mine.segments]})
    return pairs


def _video_copy(session: Session, copy_id: int) -> dict[str, Any]:
    """Where a kept video is seen: the first page embedding it (else its own URL), its URL, when it was kept."""
    url, captured_at = session.execute(
        select(Source.url, Capture.captured_at).join(Video, Video.source_id == Source.id)
        .join(Capture, Capture.id == Video.media_capture_id, isouter=True).where(Video.id == copy_id)).one()
    page = session.scalar(select(Source.url).join(PageVideo, PageVideo.page_source_id == Source.id)
                          .where(PageVideo.video_id == copy_id).order_by(Source.id).limit(1))
    return {"found_key": f"video:{copy_id}", "found_video_id": copy_id, "where_url": page or url,
            "media_url": url, "found_captured_at": captured_at}


def _store(session: Session, video_id: int, copy: dict[str, Any], measure: dict[str, Any]) -> bool:
    """Store one match of `video_id`'s footage (once per copy; a later look updates its figures)."""
    row = session.scalar(select(FootageMatch).where(FootageMatch.video_id == video_id,
                                                    FootageMatch.found_key == copy["found_key"]))
    if row is None:
        session.add(FootageMatch(video_id=video_id, **copy, **measure, matched_at=utcnow()))
        session.flush()
        return True
    for key, value in measure.items():
        setattr(row, key, value)
    return False


def _measure(pair: dict[str, Any], original_is_query: bool) -> dict[str, Any]:
    """A pair's figures from the original video's side: its share found in the copy, segments in both."""
    if original_is_query:
        segments = pair["segments"]
        share, copy_share = pair["share"], pair["other_share"]
    else:
        segments = [{"start": s["other_start"], "end": s["other_end"], "other_start": s["start"],
                     "other_end": s["end"]} for s in pair["segments"]]
        share, copy_share = pair["other_share"], pair["share"]
    return {"share": share, "matched_frames": pair["matched_frames"], "query_frames": pair["query_frames"],
            "best_distance": pair["best_distance"],
            "segments": [{**s, "copy_share": copy_share} for s in segments][:50]}


def compare_new_videos(session: Session, share: float, found: Found) -> None:
    """Each newly fingerprinted video against its collection, and against its vanished videos' variants (so a
    mirrored or rotated copy of one is found): matches stored on the other video's side."""
    todo = session.execute(
        select(Fingerprint.video_id, Fingerprint.media_sha256).join(
            FootageSearch, FootageSearch.video_id == Fingerprint.video_id, isouter=True)
        .where(Fingerprint.state == "done", FootageSearch.compared_at.is_(None)
               | (FootageSearch.media_sha256 != Fingerprint.media_sha256))
        .order_by(Fingerprint.video_id).limit(BATCH)).all()
    variants: dict[int, VariantTable] = {}
    for video_id, sha in todo:
        copy = _video_copy(session, video_id)
        for pair in video_pairs(session, video_id, stored_queries(session, video_id), share, variants):
            found.matches += _store(session, pair["other"], copy, _measure(pair, original_is_query=False))
        _searched(session, video_id, sha, compared_at=utcnow())
        found.compared += 1


def _searched(session: Session, video_id: int, sha: str | None, **when: datetime) -> None:
    """Note when a video was compared (as a capture) or searched for (once vanished)."""
    row = session.get(FootageSearch, video_id)
    if row is None:
        row = FootageSearch(video_id=video_id)
        session.add(row)
    row.media_sha256 = sha
    for key, value in when.items():
        setattr(row, key, value)
    session.flush()


def search_vanished(session: Session, share: float, found: Found) -> None:
    """Each vanished video not searched for since it vanished (or since its variants were made): its footage, as
    archived and mirrored or rotated, in other videos and in images. Its variants are tried first (made or
    failed for its media), so its mirrored and rotated copies are found by this search."""
    todo = session.execute(
        select(Fingerprint.video_id, Fingerprint.media_sha256).join(Video, Video.id == Fingerprint.video_id)
        .join(Source, Source.id == Video.source_id)
        .join(VariantPrint, (VariantPrint.video_id == Video.id) & (VariantPrint.media_sha256 == Video.media_sha256))
        .join(FootageSearch, FootageSearch.video_id == Video.id, isouter=True)
        .where(Fingerprint.state == "done", Source.status == SourceStatus.VANISHED.value,
               FootageSearch.vanished_search_at.is_(None) | (FootageSearch.vanished_search_at < Source.vanished_at)
               | (FootageSearch.vanished_search_at < VariantPrint.made_at))
        .order_by(Source.vanished_at).limit(BATCH)).all()
    for video_id, sha in todo:
        # Its variants hold its frames as archived too (the first orientation), so they replace the stored
        # hashes; a video whose variants failed is looked for as archived.
        queries = variant_queries(session, video_id) or stored_queries(session, video_id)
        for pair in video_pairs(session, video_id, queries, share):
            found.matches += _store(session, video_id, _video_copy(session, pair["other"]),
                                    _measure(pair, original_is_query=True))
        for image_id, hits in _by_image(images_near(session, queries, MATCH_BITS,
                                                    _collection_of(session, video_id))).items():
            measure = _image_measure([hit.query_second for hit in hits], min(hit.distance for hit in hits))
            found.matches += _store(session, video_id, _image_copy(session, image_id), measure)
        _searched(session, video_id, sha, vanished_search_at=utcnow())
        found.searched += 1


def _by_image(hits: list[Any]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    for hit in hits:
        grouped[hit.image_id].append(hit)
    return grouped


def _image_copy(session: Session, image_id: int) -> dict[str, Any]:
    """Where a captured image is seen: its page (else its own URL), its URL, when it was kept."""
    sha, url, page_id, captured_at = session.execute(
        select(ImagePrint.payload_sha256, Requisite.url, Requisite.page_source_id, Requisite.captured_at)
        .join(Requisite, Requisite.id == ImagePrint.requisite_id).where(ImagePrint.id == image_id)).one()
    page = session.get(Source, page_id) if page_id else None
    return {"found_key": f"image:{sha}", "found_image_id": image_id, "where_url": page.url if page else url,
            "media_url": url, "found_captured_at": captured_at}


def _image_measure(seconds: list[float], distance: int) -> dict[str, Any]:
    """An image holding a video's frame: the seconds of the video it shows (a segment each), the closest distance."""
    shown = sorted(set(seconds))
    return {"share": 0.0, "matched_frames": len(shown), "query_frames": 1, "best_distance": distance,
            "segments": [{"start": s, "end": s, "other_start": 0.0, "other_end": 0.0, "copy_share": 1.0}
                         for s in shown[:50]]}


def compare_new_images(session: Session, found: Found) -> None:
    """Each newly hashed captured image against the videos of its collection (and vanished videos' variants): a
    frame of which, at which second."""
    todo = session.execute(select(ImagePrint, Requisite.collection_id)
                           .join(Requisite, Requisite.id == ImagePrint.requisite_id)
                           .where(ImagePrint.state == "done", ImagePrint.compared_at.is_(None))
                           .order_by(ImagePrint.id).limit(BATCH)).all()
    variants: dict[int, VariantTable] = {}
    for image, collection_id in todo:
        queries = [(0.0, h) for h in (image.hash, image.top_hash) if h is not None]
        by_video: dict[int, list[Hit]] = defaultdict(list)
        for hit in (open_index(session, collection_id).near(queries, MATCH_BITS)
                    + _variants(session, variants, collection_id).near(queries, MATCH_BITS)):
            by_video[hit.video_id].append(hit)
        for video_id, hits in by_video.items():
            measure = _image_measure([hit.second for hit in hits], min(hit.distance for hit in hits))
            found.matches += _store(session, video_id, _image_copy(session, image.id), measure)
        image.compared_at = utcnow()
        found.compared += 1


def alert_reappearances(session: Session, found: Found) -> None:
    """One alert for each stored copy of a vanished video's footage that has none: claimed on the match row
    first, so two workers never make two."""
    rows = session.execute(
        select(FootageMatch.id, Video, Source, Collection).join(Video, Video.id == FootageMatch.video_id)
        .join(Source, Source.id == Video.source_id).join(Collection, Collection.id == Source.collection_id)
        .where(FootageMatch.alerted_at.is_(None), Source.status == SourceStatus.VANISHED.value)
        .order_by(FootageMatch.id).limit(BATCH)).all()
    for match_id, video, source, collection in rows:
        now = utcnow()
        claimed = session.execute(update(FootageMatch).where(FootageMatch.id == match_id,
                                                             FootageMatch.alerted_at.is_(None))
                                  .values(alerted_at=now).execution_options(synchronize_session=False)).rowcount
        if not claimed:
            continue
        match = session.get(FootageMatch, match_id)
        alert = Alert(source_id=source.id, transition_id=None, kind=REAPPEARED, created_at=now, state="pending",
                      payload=reappeared_payload(session, match, video, source, collection))
        session.add(alert)
        session.flush()
        match.alert_id = alert.id
        found.alerts += 1


def reappeared_payload(session: Session, match: FootageMatch, video: Video, source: Source,
                       collection: Collection) -> dict[str, Any]:
    """What the alert about a reappearance says (fields are an interface, beside a transition alert's)."""
    capture = session.get(Capture, video.media_capture_id) if video.media_capture_id else None
    return {
        "kind": REAPPEARED, "match_id": match.id, "source_id": source.id, "url": source.url,
        "normalized_url": source.normalized_url, "collection": collection.name, "source_kind": source.kind,
        "title": video.title, "status": source.status, "vanished_at": iso(source.vanished_at),
        "at": iso(match.matched_at), "where": match.where_url, "media_url": match.media_url,
        "found_captured_at": iso(match.found_captured_at), "image": match.found_image_id is not None,
        "share": match.share, "matched_frames": match.matched_frames, "query_frames": match.query_frames,
        "best_distance": match.best_distance, "segments": match.segments, "reason": None,
        "capture": None if capture is None else {
            "id": capture.id, "captured_at": iso(capture.captured_at), "http_status": capture.http_status,
            "warc_uri": capture.warc_uri, "warc_offset": capture.warc_offset, "warc_length": capture.warc_length},
        "wayback_url": source.recovery_archive_url,
    }
