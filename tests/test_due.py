"""What is due is decided once (archive.due): the in-process scheduler, the broker's dispatch and the worker's
capture task choose the same work from the same database, a failed media download included; on the real
RabbitMQ a worker then fetches that media."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import scheduler
from archive.captures import capture_failed
from archive.config import Settings
from archive.db import session_scope
from archive.due import captures_due
from archive.models import Capture, Check, Collection, CrawlFailure, Source, Video, utcnow
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.tasks import leases
from archive.tasks.dispatch import capture_batches
from archive.workspace import Workspace
from tests.servers.site import Site
from tests.test_crawl import crawl
from tests.test_media import PLAYER_MP4, provider_site
from tests.test_regions import broker_url  # noqa: F401 - the fixture: the machine's RabbitMQ
from tests.test_tasks import env_for, stop_workers

RETRY = 3600  # LASTSEEN_CAPTURE_RETRY of the first test


def _captured(session, source_id: int, at) -> int:  # type: ignore[no-untyped-def]
    capture = Capture(source_id=source_id, captured_at=at, url=f"https://x.example/{source_id}", http_status=200,
                      content_type="text/html", payload_sha256="0" * 64, payload_digest=None, size=1,
                      warc_uri="file:///x.warc.gz", warc_offset=0, warc_length=1, page_meta=None)
    session.add(capture)
    session.flush()
    return capture.id


def _add(session, collection: str, url: str, *, media: bool = True) -> int:  # type: ignore[no-untyped-def]
    target = ensure_collection(session, collection)
    target.media = media
    (added,) = add_sources(session, target, [SourceEntry(url)]).added
    return added.id


def _library(ws: Workspace) -> dict[str, int]:
    """One collection per case, of which three owe a crawl: a new page, a video whose media download failed
    longer ago than the retry delay, and a page a check saw change since its capture."""
    now = utcnow()
    long_ago, lately = now - timedelta(seconds=2 * RETRY), now - timedelta(seconds=RETRY // 2)
    with session_scope(ws.sessions) as session:
        ids = {
            "new": _add(session, "fresh", "https://news.example/new"),
            "media": _add(session, "retry", "https://www.youtube.com/watch?v=aaaaaaaaaaa"),
            "changed": _add(session, "edited", "https://news.example/edited"),
            "no-media": _add(session, "quiet", "https://www.youtube.com/watch?v=bbbbbbbbbbb", media=False),
            "media-lately": _add(session, "waiting", "https://www.youtube.com/watch?v=ccccccccccc"),
            "failed-lately": _add(session, "waiting", "https://news.example/unreachable"),
            "kept": _add(session, "kept", "https://www.youtube.com/watch?v=ddddddddddd"),
            "done": _add(session, "retry", "https://news.example/done"),
        }
        for case in ("media", "changed", "no-media", "media-lately", "kept", "done"):
            _captured(session, ids[case], long_ago)
        session.add_all([CrawlFailure(source_id=ids["media"], url="u", reason="media_error", at=long_ago),
                         CrawlFailure(source_id=ids["media-lately"], url="u", reason="media_too_large", at=lately),
                         CrawlFailure(source_id=ids["failed-lately"], url="u", reason="dns_error", at=lately),
                         Check(source_id=ids["changed"], checked_at=lately, outcome="changed", http_status=200,
                               final_url=None, latency_ms=1.0, text_sha256="1" * 64, payload_sha256=None,
                               region=None)])
        capture_failed(session, ids["failed-lately"], now, RETRY)  # as the crawl's FailurePipeline does
        video = session.scalar(select(Video).where(Video.source_id == ids["kept"]))
        video.media_capture_id = _captured(session, ids["kept"], long_ago)
    return ids


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_both_paths_choose_the_same_capture_work(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(settings.replace(capture_retry=RETRY))
    ids = _library(ws)
    monkeypatch.setattr(scheduler, "_ws", ws)
    with session_scope(ws.sessions) as session:
        names = dict(session.execute(select(Source.id, Collection.name).join(Collection)).all())
        changed_url = session.get(Source, ids["changed"]).normalized_url

    in_process = scheduler.crawl_targets(ws)
    assert in_process == [("fresh", []), ("retry", []), ("edited", [changed_url])]

    batches = capture_batches(ws, utcnow(), held=set())
    queued = {int(key) for _, batch in batches for key in batch}
    assert queued == {ids["new"], ids["media"], ids["changed"]}, "the broker queues the failed media download too"
    assert {names[source_id] for source_id in queued} == {name for name, _ in in_process}, \
        "both crawl the same collections"
    with session_scope(ws.sessions) as session:  # what the worker still does of the task's sources
        owed = captures_due(session, utcnow(), RETRY, source_ids=list(ids.values()))
    assert {(work.source_id, work.why) for work in owed} == {
        (ids["new"], "new"), (ids["media"], "media"), (ids["changed"], "changed")}
    ws.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_broker_path_queues_a_failed_media_download_and_a_worker_fetches_it(
        settings: Settings, broker_url: str, site: Site, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        tmp_path: Path) -> None:
    """Videos whose media download failed (over the size cap) are owed their media once the retry delay passed:
    with a broker the scheduler queues them, and a worker's crawl of their collection keeps it."""
    provider_site(site)
    player = site.url("/player")
    code, _, stderr = crawl(settings, site, "-c", "later", "--kind", "video", player, command="add")
    assert code == 0, stderr
    code, _, stderr = crawl(settings, site, "-c", "later", extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "100"})
    assert code == 0, stderr[-3000:]
    ws = Workspace(settings.replace(broker_url=broker_url, capture_retry=0, allow_networks=("127.0.0.1/32",)))
    with session_scope(ws.sessions) as session:
        assert {f.reason for f in session.scalars(select(CrawlFailure))} == {"media_too_large"}
        assert session.scalar(select(Video.media_capture_id)) is None
        videos = set(session.scalars(select(Video.source_id)))
    assert len(videos) == 2, "the player page and the MP4 it plays are both video sources"
    monkeypatch.setattr(scheduler, "_ws", ws)

    assert scheduler.capture_round() == [{"queued": 2, "tasks": 1}], "the failed downloads are queued"
    with session_scope(ws.sessions) as session:
        assert leases.held_keys(session, "capture", utcnow()) == {str(source_id) for source_id in videos}
    assert scheduler.capture_round() == [{"queued": 0, "tasks": 0}], "queued once while its lease holds"

    log = tmp_path / "worker.log"
    env = env_for(ws.settings, LASTSEEN_BROKER_URL=broker_url, LASTSEEN_CAPTURE_RETRY="0",
                  LASTSEEN_ALLOW_NETWORKS="127.0.0.1/32", LASTSEEN_DOWNLOAD_TIMEOUT="20",
                  LASTSEEN_SCREENSHOTS="no", LASTSEEN_CAPTURE="http", LASTSEEN_DESCRIBE_WORKERS="1")
    worker = subprocess.Popen([sys.executable, "-c", "from archive.cli import run; run()", "worker", "--queues",
                               "capture", "--concurrency", "1"], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                              env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            with session_scope(ws.sessions) as session:
                kept = set(session.scalars(select(Video.media_sha256)))
                held = leases.held_keys(session, "capture", utcnow())
            if None not in kept and not held:
                break
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(1)
    finally:
        stop_workers([worker])
    assert kept == {hashlib.sha256(PLAYER_MP4).hexdigest()}, "both kept the clip"
    assert scheduler.capture_round() == [{"queued": 0, "tasks": 0}], "nothing is owed once the media is kept"
    ws.close()
