"""#23's mirrored and rotated copies: the footage round finds a vanished video's footage turned or flipped.

Clip A is archived and fingerprinted with a rotated copy of it already on a page; when A vanishes the round makes
A's variants (in its pool of processes) and its search finds the rotated copy; a mirrored copy and a mirrored
still captured later are found as they are compared; an unrelated mirrored clip is found by nothing. A vanished
video whose kept media cannot be read again gets a stored failure, and the round still completes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.footage.hashes import MATCH_BITS
from archive.footage.links import FootageMatch, FootageSearch
from archive.footage.similar import stored_queries
from archive.footage.tables import VariantHashRow, VariantPrint
from archive.footage.variants import VariantTable
from archive.models import Alert, Capture, Source, Video
from archive.workspace import Workspace
from tests.conftest import _need
from tests.servers.site import Page, Site
from tests.test_crawl import crawl
from tests.test_footage import ffmpeg


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clip A (10 s), its mirrored and rotated copies, a mirrored still of A at 4 s, and an unrelated mirrored clip."""
    if shutil.which("ffmpeg") is None:
        _need("ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("variants")
    made = {name: folder / f"{name}.mp4" for name in ("a", "mirror", "rotated", "other")}
    fast = ["-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=s=480x270:r=15", "-t", "10", *fast, str(made["a"]))
    ffmpeg("-i", str(made["a"]), "-vf", "hflip", "-crf", "30", *fast, str(made["mirror"]))
    ffmpeg("-i", str(made["a"]), "-vf", "transpose=1", "-crf", "30", *fast, str(made["rotated"]))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=480x270:r=15", "-t", "10", "-vf", "hflip", *fast, str(made["other"]))
    made["still"] = folder / "still.png"
    ffmpeg("-ss", "4", "-i", str(made["a"]), "-vf", "hflip", "-frames:v", "1", str(made["still"]))
    return made


def _crawl(settings: Settings, site: Site, *args: str) -> None:
    code, _, stderr = crawl(settings, site, *args, extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "50MB",
                                                              "LASTSEEN_CONFIRM_CHECKS": "1"})
    assert code in (0, 1), stderr[-3000:]


def _page(site: Site, path: str, body: str) -> str:
    """A page on the site with this body; its URL."""
    site.set(path, Page(f"<html><head><title>{path}</title></head><body>{body}</body></html>"))
    return site.url(path)


def _video_page(site: Site, path: str, clip: Path) -> tuple[str, str]:
    """A page embedding a clip served beside it; the page's URL and the clip's."""
    media = site.url(f"/media{path}.mp4")
    site.set(f"/media{path}.mp4", Page(clip.read_bytes(), content_type="video/mp4"))
    return _page(site, path, f"<h1>News</h1><video src='{media}' controls></video>"), media


def _vanish(site: Site, run, path: str, url: str, collection: str) -> None:
    site.set(path, Page("gone", status=404, content_type="text/plain"))
    run("check", "-c", collection, "--all")
    code, out, _ = run("status", url, "--json")
    assert json.loads(out)["sources"][0]["status"] == "vanished"


def _round(run) -> dict:
    code, out, err = run("fingerprint", "--json")
    tally = json.loads(out)
    assert code == (1 if tally["failed"] else 0), err
    return tally


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_mirrored_and_rotated_copies_of_a_vanished_video_alert_once(settings: Settings, site: Site, run,
                                                                    clips: dict[str, Path],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTSEEN_FOOTAGE_WORKERS", "0")
    monkeypatch.setenv("LASTSEEN_CONFIRM_CHECKS", "1")
    clip_a = site.url("/media/a.mp4")
    site.set("/media/a.mp4", Page(clips["a"].read_bytes(), content_type="video/mp4"))
    turned, turned_media = _video_page(site, "/news/turned", clips["rotated"])  # a rotated copy, before A vanishes
    assert run("add", "-c", "event", "--kind", "video", clip_a)[0] == 0
    assert run("add", "-c", "event", turned)[0] == 0
    _crawl(settings, site, "-c", "event")
    tally = _round(run)
    assert (tally["fingerprinted"], tally["variants"], tally["matches"]) == (2, 0, 0), tally  # as archived: unlike

    _vanish(site, run, "/media/a.mp4", clip_a, "event")
    monkeypatch.setenv("LASTSEEN_FOOTAGE_WORKERS", "1")  # A's variants made in the round's pool of processes
    tally = _round(run)
    monkeypatch.setenv("LASTSEEN_FOOTAGE_WORKERS", "0")
    assert (tally["variants"], tally["searched"], tally["alerts"]) == (1, 1, 1), tally  # the rotated copy, found
    with session_scope(open_database(settings.database_url)) as session:
        a_id = session.scalar(select(Video.id).join(Source, Source.id == Video.source_id).where(Source.url == clip_a))
        variant = session.get(VariantPrint, a_id)
        assert variant.state == "done" and variant.frames >= 19, (variant.state, variant.reason)
        hashes = session.scalar(select(func.count()).where(VariantHashRow.video_id == a_id))
        assert hashes >= 8 * variant.frames  # eight orientations of each frame (and top parts)
        assert session.scalar(select(func.count()).select_from(VariantHashRow)
                              .where(VariantHashRow.video_id != a_id)) == 0  # only the vanished video's

    mirrored, mirror_media = _video_page(site, "/news/mirrored", clips["mirror"])  # captured after A vanished
    image_url = site.url("/img/still.png")
    site.set("/img/still.png", Page(clips["still"].read_bytes(), content_type="image/png"))
    photo = _page(site, "/news/photo", f"<p>Seen today</p><img src='{image_url}'>")
    other_url = site.url("/media/other.mp4")
    site.set("/media/other.mp4", Page(clips["other"].read_bytes(), content_type="video/mp4"))
    assert run("add", "-c", "event", mirrored, photo)[0] == 0
    assert run("add", "-c", "event", "--kind", "video", other_url)[0] == 0
    _crawl(settings, site, "-c", "event")
    tally = _round(run)
    assert (tally["fingerprinted"], tally["images"], tally["alerts"]) == (2, 1, 2), tally  # mirrored video, still
    assert _round(run)["alerts"] == 0  # a second round alerts nothing again

    with session_scope(open_database(settings.database_url)) as session:
        alerts = {a.payload["where"]: a.payload
                  for a in session.scalars(select(Alert).where(Alert.kind == "reappeared"))}
        matches = [(m.video_id, m.found_key, m.found_video_id) for m in session.scalars(select(FootageMatch))]
        other_id = session.scalar(select(Video.id).join(Source, Source.id == Video.source_id)
                                  .where(Source.url == other_url))
    assert set(alerts) == {turned, mirrored, photo}, alerts
    assert all(alert["url"] == clip_a for alert in alerts.values())
    assert alerts[turned]["media_url"] == turned_media and alerts[mirrored]["media_url"] == mirror_media
    for where in (turned, mirrored):
        payload = alerts[where]
        assert payload["share"] >= 0.8, payload
        segment = payload["segments"][0]
        assert segment["start"] <= 0.6 and segment["end"] >= 9.0, (where, segment)  # A's 0:00-0:10 ...
        assert segment["other_start"] <= 0.6 and segment["other_end"] >= 9.0, (where, segment)  # ...there alike
    assert alerts[photo]["image"] and abs(alerts[photo]["segments"][0]["start"] - 4.0) <= 0.6, alerts[photo]
    of_a = [match for match in matches if match[0] == a_id]
    assert len(of_a) == 3 == len({key for _, key, _ in of_a}), matches  # one match per copy
    assert other_id not in {video for video, _, _ in matches} | {found for _, _, found in matches}  # unrelated
    _made_again_and_kept_once_back(settings, site, run, clips, a_id, mirror_media)


def _made_again_and_kept_once_back(settings: Settings, site: Site, run, clips: dict[str, Path], a_id: int,
                                   mirror_media: str) -> None:
    """A's media changing makes its variants again (its copies are still one match and one alert each); once A
    is back online its variants stay stored but nothing is compared with them."""
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        session.get(Video, a_id).media_sha256 = "0" * 64  # as a new download of A would
    tally = _round(run)
    assert (tally["variants"], tally["searched"], tally["matches"], tally["alerts"]) == (1, 1, 0, 0), tally
    with session_scope(sessions) as session:
        assert session.get(VariantPrint, a_id).media_sha256 == "0" * 64
        mirror_id, collection_id = session.execute(
            select(Video.id, Source.collection_id).join(Source, Source.id == Video.source_id)
            .join(Capture, Capture.id == Video.media_capture_id).where(Capture.url == mirror_media)).one()
        queries = stored_queries(session, mirror_id)
        assert {hit.video_id for hit in VariantTable(session, collection_id).near(queries, MATCH_BITS)} == {a_id}
    site.set("/media/a.mp4", Page(clips["a"].read_bytes(), content_type="video/mp4"))  # A is back
    run("check", "-c", "event", "--all")
    with session_scope(sessions) as session:
        assert session.scalar(select(Source.status).join(Video, Video.source_id == Source.id)
                              .where(Video.id == a_id)) != "vanished"
        assert session.scalar(select(func.count()).where(VariantHashRow.video_id == a_id)) > 0
        assert VariantTable(session, collection_id).near(queries, MATCH_BITS) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unreadable_kept_media_is_a_stored_variants_failure(settings: Settings, site: Site, run,
                                                            clips: dict[str, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTSEEN_FOOTAGE_WORKERS", "0")
    monkeypatch.setenv("LASTSEEN_CONFIRM_CHECKS", "1")
    clip_a = site.url("/media/a.mp4")
    site.set("/media/a.mp4", Page(clips["a"].read_bytes(), content_type="video/mp4"))
    assert run("add", "-c", "event", "--kind", "video", clip_a)[0] == 0
    _crawl(settings, site, "-c", "event")
    assert _round(run)["fingerprinted"] == 1

    ws = Workspace(settings)
    with session_scope(ws.sessions) as session:  # the kept WARC record rots: its bytes are zeros now
        a_id, uri, offset, length = session.execute(
            select(Video.id, Capture.warc_uri, Capture.warc_offset, Capture.warc_length)
            .join(Capture, Capture.id == Video.media_capture_id)).one()
    stored = ws.storage.root / ws.storage.key_of(uri)
    with stored.open("r+b") as warc:
        warc.seek(offset)
        warc.write(b"\0" * length)
    _vanish(site, run, "/media/a.mp4", clip_a, "event")
    tally = _round(run)
    assert (tally["variants"], tally["failed"], tally["searched"]) == (0, 1, 1), tally  # searched as archived
    with session_scope(ws.sessions) as session:
        variant = session.get(VariantPrint, a_id)
        assert variant.state == "failed" and "kept media cannot be read back" in variant.reason, variant.reason
        assert session.get(FootageSearch, a_id).vanished_search_at is not None
    assert _round(run)["failed"] == 0  # not tried again until its media changes
