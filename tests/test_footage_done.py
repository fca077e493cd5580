"""#23 done when: clip A is archived from a local site, A vanishes, a page later embeds a re-encoded, logo-stamped,
black-barred copy of A (and another page shows a still of A); the footage round makes exactly one alert per copy,
the video's saying A's footage reappeared there with the matched segment; `lastseen similar` with a still of A
finds both videos at the right seconds (and the captured image); `lastseen status` says when and where A
reappeared; the API and A's dashboard page say the same.

The commands run as a user runs them (crawls as child processes against the local site); the round that finds
the copies runs in its pool of processes, as the scheduler runs it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.models import Alert, Source, StatusTransition
from archive.watch.alerts import headline
from tests.conftest import _need
from tests.servers.receiver import Receiver
from tests.servers.site import Page, Site
from tests.test_crawl import crawl
from tests.test_footage import ffmpeg

COPY_FILTERS = "scale=360:-2,drawbox=x=12:y=12:w=60:h=26:color=yellow@0.9:t=fill,pad=360:360:0:(oh-ih)/2:black"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clip A (10 s), a re-encoded, logo-stamped, black-barred copy of it, and a still of A at 4 s."""
    if shutil.which("ffmpeg") is None:
        _need("ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("done")
    made = {"a": folder / "a.mp4", "copy": folder / "copy.mp4", "still": folder / "still.png"}
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=s=480x270:r=15", "-t", "10", "-pix_fmt", "yuv420p", str(made["a"]))
    ffmpeg("-i", str(made["a"]), "-vf", COPY_FILTERS, "-crf", "32", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           str(made["copy"]))
    ffmpeg("-ss", "4", "-i", str(made["a"]), "-frames:v", "1", str(made["still"]))
    return made


def _crawl(settings: Settings, site: Site, *args: str, command: str = "crawl") -> dict:
    code, summary, stderr = crawl(settings, site, *args, command=command,
                                  extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "50MB", "LASTSEEN_CONFIRM_CHECKS": "1"})
    assert code in (0, 1), stderr[-3000:]
    return summary


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_vanished_footage_reappears_once_with_its_segment(settings: Settings, site: Site, clips: dict[str, Path],
                                                          run, monkeypatch: pytest.MonkeyPatch,
                                                          receiver: Receiver) -> None:
    monkeypatch.setenv("LASTSEEN_FOOTAGE_WORKERS", "0")  # in this process, but the round that finds the copy
    monkeypatch.setenv("LASTSEEN_CONFIRM_CHECKS", "1")
    clip_a, story = site.url("/media/a.mp4"), site.url("/news/story")
    copy_url = site.url("/media/copy.mp4")
    site.set("/media/a.mp4", Page(clips["a"].read_bytes(), content_type="video/mp4"))
    assert run("add", "-c", "event", "--kind", "video", clip_a)[0] == 0
    _crawl(settings, site, "-c", "event")
    code, out, err = run("fingerprint", "--json")
    assert code == 0, err
    assert (json.loads(out)["fingerprinted"], json.loads(out)["alerts"]) == (1, 0)

    site.set("/media/a.mp4", Page("gone", status=404, content_type="text/plain"))  # A vanishes
    run("check", "-c", "event", "--all")
    code, out, _ = run("status", clip_a, "--json")
    assert json.loads(out)["sources"][0]["status"] == "vanished"

    site.set("/media/copy.mp4", Page(clips["copy"].read_bytes(), content_type="video/mp4"))
    site.set("/news/story", Page(f"<html><head><title>Story</title></head><body><h1>Story</h1>"
                                 f"<video src='{copy_url}' controls></video></body></html>"))
    photo, image_url = site.url("/news/photo"), site.url("/img/frame.png")  # and a still of A on another page
    site.set("/img/frame.png", Page(clips["still"].read_bytes(), content_type="image/png"))
    site.set("/news/photo", Page(f"<html><body><p>Seen today</p><img src='{image_url}'></body></html>"))
    assert run("add", "-c", "event", story, photo)[0] == 0
    _crawl(settings, site, "-c", "event")
    monkeypatch.setenv("LASTSEEN_FOOTAGE_WORKERS", "1")  # the pool, as the scheduler runs it
    code, out, err = run("fingerprint", "--json")
    monkeypatch.setenv("LASTSEEN_FOOTAGE_WORKERS", "0")
    tally = json.loads(out)
    assert (tally["fingerprinted"], tally["images"], tally["alerts"]) == (1, 1, 2), (tally, err)  # one per copy
    code, out, _ = run("fingerprint", "--json")
    assert json.loads(out)["alerts"] == 0  # a second round alerts nothing again

    with session_scope(open_database(settings.database_url)) as session:
        alerts = session.scalars(select(Alert)).all()
        reappeared = {a.payload["where"]: a for a in alerts if a.kind == "reappeared"}
        assert set(reappeared) == {story, photo} and reappeared[story].transition_id is None
        payload, in_image = reappeared[story].payload, reappeared[photo].payload
        vanishings = session.scalars(select(StatusTransition).where(StatusTransition.to_status == "vanished")).all()
        assert len(vanishings) == 1  # the reappearance is no status change
    assert payload["url"] == clip_a and payload["where"] == story and payload["media_url"] == copy_url
    assert payload["share"] >= 0.8
    segment = payload["segments"][0]
    assert segment["start"] <= 0.6 and segment["end"] >= 9.0, segment  # A's 0:00-0:10 ...
    assert segment["other_start"] <= 0.6 and segment["other_end"] >= 9.0, segment  # ...shown from 0:00 there

    assert headline(payload) == (f"Footage of {clip_a} reappeared at {story}: {payload['share']:.0%} of its frames, "
                                 f"0:00-0:{int(segment['end']):02d}")
    monkeypatch.setenv("LASTSEEN_WEBHOOK_URL", receiver.url())
    code, out, err = run("alerts", "--json")
    sent = [alert for alert in receiver.alerts if alert["kind"] == "reappeared"]
    assert sorted(alert["where"] for alert in sent) == sorted([story, photo]), (out, err, receiver.alerts)
    code, out, err = run("status", clip_a, "--json")
    detail = json.loads(out)["sources"][0]
    assert detail["reappeared_at"] and detail["reappeared_where"] == story
    code, out, _ = run("status", clip_a)
    assert "reappeared at" in out and story in out
    code, out, _ = run("status", copy_url)
    assert f"footage of      {clip_a}  [vanished]" in out

    code, out, err = run("similar", str(clips["still"]), "--json")
    assert code == 0, err
    found = {hit["url"]: hit["seconds"] for hit in json.loads(out) if "url" in hit}
    assert set(found) == {clip_a, copy_url}, found
    for url, seconds in found.items():
        assert any(abs(second - 4.0) <= 0.6 for second in seconds), (url, seconds)
    assert in_image["image"] and abs(in_image["segments"][0]["start"] - 4.0) <= 0.6, in_image  # A's frame at 0:04
    _the_api_answers_alike(settings, clips, clip_a, copy_url, photo, json.loads(out))


def _the_api_answers_alike(settings: Settings, clips: dict[str, Path], clip_a: str, copy_url: str, photo: str,
                           cli_answer: list[dict]) -> None:
    """GET /api/similar by A's URL finds the copy; POST with the still answers as the CLI does; garbage is a 400."""
    from fastapi.testclient import TestClient

    from archive.api import create_app
    from archive.tokens import create_token

    with session_scope(open_database(settings.database_url)) as session:
        token = create_token(session, "reader", "reader")
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        by_url = client.get("/api/similar", params={"url": clip_a}, headers=auth)
        assert by_url.status_code == 200, by_url.text
        assert [hit["url"] for hit in by_url.json()] == [copy_url]
        still = client.post("/api/similar", content=clips["still"].read_bytes(),
                            headers={**auth, "Content-Type": "image/png"})
        assert still.status_code == 200, still.text
        videos = [(hit["url"], hit["seconds"]) for hit in still.json() if "url" in hit]
        assert videos == [(hit["url"], hit["seconds"]) for hit in cli_answer], still.text
        assert [hit["page"] for hit in still.json() if "image_url" in hit] == [photo]  # and the captured image
        for body, kind in ((b"\x00garbage" * 50, "image/png"), (b"", "image/png"), (b"text", "text/plain")):
            bad = client.post("/api/similar", content=body, headers={**auth, "Content-Type": kind})
            assert bad.status_code == 400 and bad.json()["message"], (kind, bad.text)
        for params in ({"url": "https://nowhere.example/v"}, {"url": clip_a, "share": "2"}):
            assert client.get("/api/similar", params=params, headers=auth).status_code in (400, 422)
        assert client.get("/api/similar", params={"url": clip_a}).status_code == 401
        _the_dashboard_shows_the_footage_elsewhere(client, token, settings, clip_a, copy_url)


def _the_dashboard_shows_the_footage_elsewhere(client: Any, token: str, settings: Settings, clip_a: str,
                                               copy_url: str) -> None:
    """A's page lists the copy with the matched seconds; the copy's page names A as the footage it holds."""
    with session_scope(open_database(settings.database_url)) as session:
        ids = {source.url: source.id for source in session.scalars(select(Source))}
    client.cookies.set("lastseen_token", token)
    page = client.get(f"/sources/{ids[clip_a]}")
    assert page.status_code == 200 and "The same footage elsewhere" in page.text
    assert copy_url in page.text and "0:00-0:09" in page.text, page.text[-3000:]
    page = client.get(f"/sources/{ids[copy_url]}")
    assert "footage of" in page.text and clip_a in page.text
