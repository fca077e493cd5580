"""Hostile media kept as videos: a truncated MP4, a bomb of 30,000 frames and ten hours of 2-pixel video are each
a stored failure with its reason, found by the footage round within its wall-time setting and memory cap; so is a
kept video or image whose WARC bytes rotted, and the round hashes the others."""

from __future__ import annotations

import json
import resource
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.footage.links import ImagePrint
from archive.footage.tables import Fingerprint
from archive.models import Capture, Requisite, Source, TaskLease, Video
from archive.workspace import Workspace
from tests.conftest import _need
from tests.servers.site import Page, Site
from tests.test_crawl import crawl
from tests.test_footage import ffmpeg

REASONS = {"truncated": "not a readable video", "frames": "too costly to decode",
           "tiny": "too small to fingerprint"}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("ffmpeg") is None:
        _need("ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("hostile")
    made = {name: folder / f"{name}.mp4" for name in (*REASONS, "clip", "other")}
    fast = ["-c:v", "libx264", "-preset", "ultrafast"]
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=15", "-t", "4", *fast, str(made["clip"]))
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=s=320x180:r=15", "-t", "4", *fast, str(made["other"]))
    made["still"] = folder / "still.png"
    ffmpeg("-ss", "2", "-i", str(made["other"]), "-frames:v", "1", str(made["still"]))
    made["truncated"].write_bytes(made["clip"].read_bytes()[:20_000])
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x64:r=1000", "-t", "30", *fast, str(made["frames"]))
    ffmpeg("-f", "lavfi", "-i", "color=s=2x2:r=1", "-t", "36000", *fast, str(made["tiny"]))
    return made


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hostile_media_are_stored_failures_within_bounds(settings: Settings, site: Site, hostile: dict[str, Path],
                                                         run, monkeypatch: pytest.MonkeyPatch) -> None:
    urls = {name: site.url(f"/media/{name}.mp4") for name in REASONS}
    for name in REASONS:
        site.set(f"/media/{name}.mp4", Page(hostile[name].read_bytes(), content_type="video/mp4"))
    code, _, err = crawl(settings, site, "-c", "bad", "--kind", "video", *urls.values(), command="add")
    assert code == 0, err
    code, _, err = crawl(settings, site, "-c", "bad", extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "50MB"})
    assert code == 0, err[-3000:]
    for name, value in (("WORKERS", "1"), ("MAX_WALL", "1"), ("MAX_MEMORY", "1500MB")):
        monkeypatch.setenv(f"LASTSEEN_FOOTAGE_{name}", value)
    started = time.monotonic()
    code, out, err = run("fingerprint", "--json")
    took = time.monotonic() - started
    assert code == 1 and json.loads(out)["failed"] == 3, (out, err)
    assert took < 60, took  # each file stops at its bound, far from decoding 30,000 frames or 36,000 seconds
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 1_500_000  # kB: no child near its cap
    with session_scope(open_database(settings.database_url)) as session:
        stored = dict(session.execute(select(Source.url, Fingerprint.reason).join(Video, Video.source_id == Source.id)
                                      .join(Fingerprint, Fingerprint.video_id == Video.id)).all())
    for name, reason in REASONS.items():
        assert reason in (stored[urls[name]] or ""), (name, stored[urls[name]])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_kept_media_that_cannot_be_read_back_is_a_stored_failure(settings: Settings, site: Site,
                                                                 hostile: dict[str, Path], run,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The first video's WARC record and a kept image's rot (their bytes are zeros) before their first round: the
    round completes in its pool of processes, stores each failure with why, fingerprints the other video, and
    tries neither again."""
    urls = [site.url(f"/media/{name}.mp4") for name in ("clip", "other")]
    for name in ("clip", "other"):
        site.set(f"/media/{name}.mp4", Page(hostile[name].read_bytes(), content_type="video/mp4"))
    site.set("/img/still.png", Page(hostile["still"].read_bytes(), content_type="image/png"))
    site.set("/photo", Page(f"<html><body><p>Seen</p><img src='{site.url('/img/still.png')}'></body></html>"))
    code, _, err = crawl(settings, site, "-c", "rot", "--kind", "video", *urls, command="add")
    assert code == 0, err
    assert run("add", "-c", "rot", site.url("/photo"))[0] == 0
    code, _, err = crawl(settings, site, "-c", "rot", extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "50MB"})
    assert code == 0, err[-3000:]
    ws = Workspace(settings)
    with session_scope(ws.sessions) as session:
        rotten, *video_record = session.execute(
            select(Video.id, Capture.warc_uri, Capture.warc_offset, Capture.warc_length)
            .join(Capture, Capture.id == Video.media_capture_id).join(Source, Source.id == Video.source_id)
            .where(Source.url == urls[0])).one()
        image_record = session.execute(select(Requisite.warc_uri, Requisite.warc_offset, Requisite.warc_length)
                                       .where(Requisite.url == site.url("/img/still.png"))).one()
    for uri, offset, length in (video_record, image_record):
        with (ws.storage.root / ws.storage.key_of(uri)).open("r+b") as warc:
            warc.seek(offset)
            warc.write(b"\0" * length)
    monkeypatch.setenv("LASTSEEN_FOOTAGE_WORKERS", "1")
    code, out, err = run("fingerprint", "--json")
    assert code == 1, (out, err)
    tally = json.loads(out)
    assert (tally["fingerprinted"], tally["images"], tally["failed"]) == (1, 0, 2) and tally["frames"] > 0, tally
    with session_scope(ws.sessions) as session:
        stored = {row.video_id: (row.state, row.reason or "") for row in session.execute(
            select(Fingerprint.video_id, Fingerprint.state, Fingerprint.reason))}
    state, reason = stored.pop(rotten)
    assert state == "failed" and reason.startswith("kept media cannot be read back: "), reason
    assert [state for state, _ in stored.values()] == ["done"], stored  # the other video, in the same round
    with session_scope(ws.sessions) as session:
        image = session.execute(select(ImagePrint.state, ImagePrint.reason)).one()
    assert image.state == "failed" and image.reason.startswith("kept media cannot be read back: "), image
    code, out, _ = run("fingerprint", "--json")
    tally = json.loads(out)
    assert (code, tally["fingerprinted"], tally["failed"]) == (0, 0, 0), tally  # not tried until its media changes
    ws.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_footage_round_is_queued_once_and_a_worker_runs_it(settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With a broker the scheduler's footage job queues one task on the `footage` queue (not a second while it is
    queued) and the worker's task runs the round under its lease; without one the job runs the round here."""
    import scheduler
    from archive.tasks import app, work
    from archive.workspace import Workspace

    sent: list[tuple[str, str, list]] = []
    monkeypatch.setattr(app, "send", lambda _settings, kind, task_id, args: sent.append((kind, task_id, args)))
    ws = Workspace(settings.replace(broker_url="memory://", footage_workers=0))
    monkeypatch.setattr(scheduler, "_ws", ws)
    monkeypatch.setattr("archive.tasks.dispatch.send", app.send)
    assert scheduler.footage_round() == {"tasks": 1} and scheduler.footage_round() == {"tasks": 0}
    (kind, task_id, args), = sent
    assert kind == "footage" and args == [["match"]]
    result = work.footage_round(work.Run(ws, task_id, "worker-1"))
    assert result["fingerprinted"] == 0 and result["alerts"] == 0, result
    with session_scope(ws.sessions) as session:
        assert session.scalars(select(TaskLease)).all() == []  # the lease ended with the round
    ws.close()
    here = Workspace(settings.replace(footage_workers=0))
    monkeypatch.setattr(scheduler, "_ws", here)
    assert scheduler.footage_round()["matches"] == 0
    here.close()


def test_storage_that_cannot_be_read_now_leaves_the_media_for_a_later_round(
        settings: Settings, site: Site, hostile: dict[str, Path], run, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept media's WARC file cannot be read (a folder where the file was: an I/O error, not a missing
    object): the round in its pool stores no failure for either video, and once the file is back the next round
    fingerprints both."""
    urls = [site.url(f"/media/{name}.mp4") for name in ("clip", "other")]
    for name in ("clip", "other"):
        site.set(f"/media/{name}.mp4", Page(hostile[name].read_bytes(), content_type="video/mp4"))
    code, _, err = crawl(settings, site, "-c", "down", "--kind", "video", *urls, command="add")
    assert code == 0, err
    code, _, err = crawl(settings, site, "-c", "down", extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "50MB"})
    assert code == 0, err[-3000:]
    ws = Workspace(settings)
    with session_scope(ws.sessions) as session:
        uris = set(session.scalars(select(Capture.warc_uri).join(Video, Video.media_capture_id == Capture.id)))
    files = [ws.storage.root / ws.storage.key_of(uri) for uri in uris]
    for path in files:
        path.rename(path.with_suffix(".away"))
        path.mkdir()
    monkeypatch.setenv("LASTSEEN_FOOTAGE_WORKERS", "1")
    code, out, err = run("fingerprint", "--json")
    tally = json.loads(out)
    assert (code, tally["fingerprinted"], tally["failed"]) == (0, 0, 0), (tally, err)
    with session_scope(ws.sessions) as session:
        assert session.scalars(select(Fingerprint.state)).all() == [], "nothing stored: the storage, not the media"
    for path in files:
        path.rmdir()
        path.with_suffix(".away").rename(path)
    code, out, err = run("fingerprint", "--json")
    tally = json.loads(out)
    assert (code, tally["fingerprinted"], tally["failed"]) == (0, 2, 0), (tally, err)
    ws.close()
