"""Hostile media kept as videos: a truncated MP4, a bomb of 30,000 frames and ten hours of 2-pixel video are each
a stored failure with its reason, found by the footage round within its wall-time setting and memory cap."""

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
from archive.footage.tables import Fingerprint
from archive.models import Source, TaskLease, Video
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
    made = {name: folder / f"{name}.mp4" for name in (*REASONS, "clip")}
    fast = ["-c:v", "libx264", "-preset", "ultrafast"]
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=15", "-t", "4", *fast, str(made["clip"]))
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
