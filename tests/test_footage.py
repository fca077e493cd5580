"""Finding footage again: kept videos fingerprinted, then found by a still, by altered copies, never by others.

Clips are made with ffmpeg's lavfi sources; the archived ones are crawled from a local site as a user would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from pathlib import Path
from struct import pack

import numpy as np
import pytest
from sqlalchemy import select

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.footage.frames import FootageError, Limits, cut_bars
from archive.footage.index import NumpyScan, PostgresScan
from archive.footage.prints import hash_file
from archive.footage.similar import find_video, video_queries
from archive.footage.tables import AudioPrintRow, Fingerprint
from archive.models import Source, Video
from tests.conftest import IN_CI, _need
from tests.servers.site import Page, Site
from tests.test_crawl import crawl

VARIANTS = {  # name: ffmpeg filters over clip A (a 10 s mandelbrot zoom)
    "a160": ["-vf", "scale=-2:160", "-crf", "30"],
    "logo_bars": ["-vf", "drawbox=x=15:y=15:w=70:h=30:color=red@0.9:t=fill,pad=480:480:0:105:black"],
    "mirror": ["-vf", "hflip"],
    "excerpt": ["-ss", "2", "-t", "6"],
}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clip A, its altered copies, a still of A at 5 s, and two unrelated clips."""
    if shutil.which("ffmpeg") is None:
        _need("ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("clips")
    made = {name: folder / f"{name}.mp4" for name in ("a", *VARIANTS, "b", "c")}
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=s=480x270:r=15", "-f", "lavfi", "-i", "anoisesrc=c=pink:a=0.3:seed=3",
           "-t", "10", "-pix_fmt", "yuv420p", str(made["a"]))  # with a soundtrack: its fingerprint is kept too
    for name, filters in VARIANTS.items():
        ffmpeg("-i", str(made["a"]), *filters, "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(made[name]))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=480x270:r=15", "-t", "10", "-pix_fmt", "yuv420p", str(made["b"]))
    elsewhere = "mandelbrot=s=480x270:r=15:start_x=-0.1011:start_y=0.9563:start_scale=0.2"  # another zoom
    ffmpeg("-f", "lavfi", "-i", elsewhere, "-t", "10", "-pix_fmt", "yuv420p", str(made["c"]))
    made["still"] = folder / "still.png"
    ffmpeg("-ss", "5", "-i", str(made["a"]), "-frames:v", "1", str(made["still"]))
    made["truncated"] = folder / "truncated.mp4"
    made["truncated"].write_bytes(made["a"].read_bytes()[:40_000])
    return made


def test_black_bars_are_cut_exactly() -> None:
    picture = np.full((90, 160, 3), 200, dtype=np.uint8)
    padded = np.zeros((200, 300, 3), dtype=np.uint8)
    padded[37:127, 71:231] = picture
    assert cut_bars(padded).shape == picture.shape
    assert np.array_equal(cut_bars(padded), picture)


def _png(width: int, height: int) -> bytes:
    """A grey PNG whose pixels compress to almost nothing: a decoding bomb when it is large."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return pack(">I", len(data)) + kind + data + pack(">I", zlib.crc32(kind + data))
    rows = zlib.compress(b"\x00" * (width + 1) * height, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def test_hostile_media_is_a_failure_with_its_reason(clips: dict[str, Path], tmp_path: Path) -> None:
    bomb, tiny = tmp_path / "bomb.png", tmp_path / "tiny.mp4"
    bomb.write_bytes(_png(10_000, 10_000))  # 100 MB of pixels in ~100 kB
    ten_hours = ["-t", "36000", "-c:v", "libx264", "-preset", "ultrafast"]
    ffmpeg("-f", "lavfi", "-i", "color=s=2x2:r=1", *ten_hours, str(tiny))
    cases = {clips["truncated"]: "not a readable video", bomb: "too large to decode",
             tiny: "too small to fingerprint", tmp_path / "empty.mp4": "not a readable video"}
    (tmp_path / "empty.mp4").write_bytes(b"")
    for path, reason in cases.items():
        with pytest.raises(FootageError, match=reason):
            hash_file(path, 2.0, Limits())
    with pytest.raises(FootageError, match="too costly to decode"):
        hash_file(clips["b"], 2.0, Limits(max_decoded=10))


@pytest.fixture
def archived(settings: Settings, site: Site, clips: dict[str, Path], run) -> Settings:
    """Clips A and B and a truncated copy kept by a crawl, then fingerprinted."""
    for name in ("a", "b", "truncated"):
        site.set(f"/media/{name}.mp4", Page(clips[name].read_bytes(), content_type="video/mp4"))
    urls = [site.url(f"/media/{name}.mp4") for name in ("a", "b", "truncated")]
    code, _, stderr = crawl(settings, site, "-c", "event", "--kind", "video", *urls, command="add")
    assert code == 0, stderr
    code, _, stderr = crawl(settings, site, "-c", "event", extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "50MB"})
    assert code == 0, stderr[-3000:]
    code, out, err = run("fingerprint", "--json")
    assert code == 1, err  # the truncated copy could not be fingerprinted
    tally = json.loads(out)
    assert (tally["fingerprinted"], tally["failed"]) == (2, 1) and tally["frames"] >= 30
    with session_scope(open_database(settings.database_url)) as session:
        failed = session.scalars(select(Fingerprint).where(Fingerprint.state == "failed")).one()
        assert "not a readable video" in failed.reason
        heard = session.execute(select(Source.url, AudioPrintRow.seconds).join(Video, Video.source_id == Source.id)
                                .join(AudioPrintRow, AudioPrintRow.video_id == Video.id)).all()
        if shutil.which("fpcalc") or IN_CI:  # A's soundtrack; B has no sound, which is no failure
            assert [url for url, _ in heard] == [urls[0]] and heard[0][1] >= 9, heard
    return settings


def test_a_still_and_altered_copies_find_the_archived_clip(archived: Settings, site: Site, clips: dict[str, Path],
                                                          run) -> None:
    clip_a, clip_b = site.url("/media/a.mp4"), site.url("/media/b.mp4")
    code, out, err = run("similar", str(clips["still"]), "--json")
    assert code == 0, err
    found = json.loads(out)
    assert [hit["url"] for hit in found] == [clip_a]
    assert any(abs(second - 5.0) <= 0.5 for second in found[0]["seconds"])
    for name in VARIANTS:
        code, out, err = run("similar", str(clips[name]), "--json")
        assert code == 0, (name, err)
        found = json.loads(out)
        assert [hit["url"] for hit in found] == [clip_a], name
        assert found[0]["share"] >= 0.8, (name, found[0])
    code, out, _ = run("similar", str(clips["excerpt"]), "--json")
    segment = json.loads(out)[0]["segments"][0]
    assert abs(segment["start"] - 2.0) <= 0.6 and abs(segment["end"] - 7.0) <= 1.1, segment
    code, out, _ = run("similar", str(clips["c"]), "--json")
    assert (code, json.loads(out)) == (3, [])  # unrelated footage matches nothing
    code, _, err = run("similar", str(clips["still"]), "-c", "nosuch")
    assert code == 3 and "no collection named 'nosuch'" in err  # not found, as in every command
    assert clip_b not in out


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_postgresql_scan_and_the_numpy_scan_agree(archived: Settings, clips: dict[str, Path]) -> None:
    with session_scope(open_database(archived.database_url)) as session:
        for name in ("logo_bars", "excerpt", "c"):
            queries = video_queries(clips[name], 1.0, Limits())
            in_db = PostgresScan(session).near(queries, 31)
            in_numpy = NumpyScan(session).near(queries, 31)
            assert sorted(in_db, key=repr) == sorted(in_numpy, key=repr), name
            assert find_video(PostgresScan(session), queries, 0.8) == find_video(NumpyScan(session), queries, 0.8)
