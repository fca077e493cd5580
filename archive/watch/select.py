"""What a check compares with: the sources chosen to check (archive.due decides which are due), loaded with
their interval, provider and baseline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.models import Capture, Check, Collection, Source, Video
from archive.status import Outcome
from archive.timefmt import iso
from archive.watch.fetch import Validators

_IN_BATCH = 1000  # ids per IN (...) list


@dataclass(frozen=True)
class Baseline:
    """What a page's content was last known to be: its newest capture, or a later check that saw it change."""

    what: str
    at: datetime
    payload_sha256: str | None = None
    text_sha256: str | None = None
    title: str | None = None
    compare_payload: bool = False


@dataclass
class Target:
    """A source to check, with what the check needs to know of it."""

    source_id: int
    url: str
    kind: str
    domain: str
    interval: int
    provider: str | None = None
    video_id: str | None = None
    video_url: str | None = None
    baseline: Baseline | None = None
    proxy: str | None = None  # the collection's proxy for yt-dlp
    cookies: str | None = None  # the collection's cookies file for yt-dlp
    last_checked_at: datetime | None = None
    validators: Validators | None = None  # of the last alive check's answer, for a conditional GET
    seen_sha256: str | None = None  # the hash of the last alive check's body

    def seen_since(self, baseline: Baseline) -> bool:
        """True when the last check came after the baseline, so its bytes were compared with it."""
        return self.last_checked_at is not None and baseline.at <= self.last_checked_at


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most size items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def load_targets(session: Session, source_ids: Sequence[int], default_interval: int) -> list[Target]:
    """The sources of these ids (unknown ids skipped), with their interval and, for videos, provider and id."""
    targets: list[Target] = []
    for chunk in chunks(list(dict.fromkeys(source_ids)), _IN_BATCH):
        rows = session.execute(
            select(Source.id, Source.normalized_url, Source.kind, Source.domain, Source.recheck_interval,
                   Collection.recheck_interval, Video.provider, Video.video_id, Video.canonical_url,
                   Collection.proxy, Collection.cookies_file,
                   Source.last_checked_at, Source.check_etag, Source.check_last_modified, Source.check_sha256)
            .join(Collection, Collection.id == Source.collection_id)
            .outerjoin(Video, Video.source_id == Source.id)
            .where(Source.id.in_(chunk)))
        for (sid, url, kind, domain, own, collection, provider, video_id, video_url, proxy, cookies, checked_at,
             etag, modified, seen) in rows:
            interval = own or collection or default_interval
            if kind == "video" and provider is None:
                from archive.providers import video_from_url

                ref = video_from_url(url)
                if ref is not None:
                    provider, video_id, video_url = ref.provider, ref.video_id, ref.canonical_url
            validators = Validators(etag, modified) if etag or modified else None
            targets.append(Target(sid, url, kind, domain, interval, provider, video_id, video_url,
                                  proxy=proxy, cookies=cookies, last_checked_at=checked_at, validators=validators,
                                  seen_sha256=seen))
    return targets


def interleave(targets: Iterable[Target]) -> list[Target]:
    """Round-robin over hosts, so the workers spread over many hosts instead of queueing on one."""
    by_host: dict[str, list[Target]] = defaultdict(list)
    for target in targets:
        by_host[target.domain].append(target)
    queues = [iter(queue) for queue in by_host.values()]
    ordered: list[Target] = []
    while queues:
        alive = []
        for queue in queues:
            item = next(queue, None)
            if item is not None:
                ordered.append(item)
                alive.append(queue)
        queues = alive
    return ordered


def attach_baselines(session: Session, targets: Sequence[Target]) -> None:
    """Each page's newest 2xx capture, or a later `changed` check's hash (what the crawl has not captured yet)."""
    pages = {t.source_id: t for t in targets if t.kind == "page"}
    if pages:
        captured = _capture_baselines(session, pages)
        if captured:
            _change_baselines(session, pages, captured)


def _capture_baselines(session: Session, pages: dict[int, Target]) -> dict[int, datetime]:
    """Give each page its newest 2xx capture as baseline; when each was captured."""
    newest = func.row_number().over(partition_by=Capture.source_id, order_by=Capture.captured_at.desc()).label("n")
    inner = (select(Capture.source_id, Capture.captured_at, Capture.payload_sha256, Capture.page_meta,
                    Capture.content_type, newest)
             .where(Capture.source_id.in_(list(pages)), Capture.http_status >= 200, Capture.http_status < 300)
             .subquery())
    captured: dict[int, datetime] = {}
    for sid, at, payload, meta, content_type, _ in session.execute(select(inner).where(inner.c.n == 1)):
        meta = meta or {}
        html = bool(meta) or "html" in (content_type or "").lower()
        pages[sid].baseline = Baseline(f"the capture of {iso(at)}", at, payload, meta.get("text_sha256"),
                                       meta.get("title"), compare_payload=not html)
        captured[sid] = at
    return captured


def _change_baselines(session: Session, pages: dict[int, Target], captured: dict[int, datetime]) -> None:
    """A `changed` check newer than the capture replaces its baseline with the hash that check saw."""
    latest = func.row_number().over(partition_by=Check.source_id, order_by=Check.checked_at.desc()).label("n")
    inner = (select(Check.source_id, Check.checked_at, Check.text_sha256, Check.payload_sha256, latest)
             .where(Check.source_id.in_(list(captured)), Check.outcome == Outcome.CHANGED.value).subquery())
    for sid, at, text, payload, _ in session.execute(select(inner).where(inner.c.n == 1)):
        if (text is None and payload is None) or at <= captured[sid]:
            continue
        what = f"the change seen at {iso(at)}"
        title = pages[sid].baseline.title if pages[sid].baseline else None
        if text is not None:
            pages[sid].baseline = Baseline(what, at, None, text, title)
        else:
            pages[sid].baseline = Baseline(what, at, payload, None, None, compare_payload=True)
