"""The video itself, in the archive: media in the WARC files (found by warcio), served by ranges, shown by status."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from archive.api.replay import byte_range
from archive.config import Settings
from archive.db import open_database, session_scope
from archive.models import Capture, Collection, CrawlFailure, Source, Video
from archive.storage import open_storage
from crawler.download import clean_info, media_format, media_url
from tests.servers.api import ApiServer
from tests.servers.site import Page, Site, self_signed_certificate
from tests.test_crawl import crawl

CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
PLAYER_MP4 = b"\x00\x00\x00\x18ftypisom" + bytes(reversed(range(256))) * 12
POSTER = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x07" * 64
CAPTIONS = "WEBVTT\n\n00:00.000 --> 00:01.000\nthe river rises\n"
SECRET = "s3cret-session"


def provider_site(site: Site) -> None:
    """A news page with direct videos (one fine, one over the cap, one gone) and a provider's player page that
    yt-dlp's generic extractor reads (HTML5 video with a poster and subtitles, and a session cookie)."""
    site.set("/watch", Page('<html><head><title>Clip</title></head><body><video src="/media/clip.mp4"></video>'
                            '<video src="/media/huge.mp4"></video><video src="/media/gone.mp4"></video></body></html>'))
    site.set("/media/clip.mp4", Page(CLIP, content_type="video/mp4"))
    site.set("/media/huge.mp4", Page(b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 5000, content_type="video/mp4"))
    site.set("/player", Page('<html><head><title>Flood, filmed</title></head><body><video controls '
                             'poster="/files/p.jpg"><source src="/files/p.mp4" type="video/mp4"><track '
                             'kind="subtitles" src="/files/p.en.vtt" srclang="en"><track kind="captions" '
                             'src="/files/p.cc.vtt" srclang="en"><track kind="descriptions" src="/files/p.ad.vtt">'
                             '<track kind="chapters" src="/files/p.ch.vtt"></video></body></html>',
                             headers=[("Set-Cookie", f"session={SECRET}; Path=/")]))
    site.set("/files/p.mp4", Page(PLAYER_MP4, content_type="video/mp4"))
    site.set("/files/p.jpg", Page(POSTER, content_type="image/jpeg"))
    site.set("/files/p.en.vtt", Page(CAPTIONS, content_type="text/vtt"))
    site.set("/files/p.cc.vtt", Page(CAPTIONS.replace("rises", "rises [water]"), content_type="text/vtt"))
    site.set("/files/p.ad.vtt", Page(CAPTIONS.replace("the river rises", "a man waves"), content_type="text/vtt"))


def warc_records(settings: Settings) -> list:
    """(type, WARC headers, content) of every record in storage, read back by warcio with digests checked."""
    storage = open_storage(settings)
    records = []
    for key in storage.keys("warc/"):
        if key.endswith(".warc.gz"):
            for record in ArchiveIterator(io.BytesIO(storage.read(key)), check_digests=True):
                records.append((record.rec_type, record.rec_headers, record.content_stream().read()))
    return records


def lastseen(settings: Settings, site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    """A `lastseen` child on this checkout's code, on the test's database and storage."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "LASTSEEN_DATA_DIR": str(settings.data_dir),
           "LASTSEEN_DATABASE_URL": settings.database_url, "LASTSEEN_STORAGE_URL": settings.storage_url}
    return subprocess.run([str(Path(sys.executable).with_name("lastseen")), *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def crawled(settings: Settings, site: Site) -> Iterator[Settings]:
    """A collection with the news page and the player page (a video source) crawled with a 3000-byte media cap."""
    provider_site(site)
    code, _, stderr = crawl(settings, site, "-c", "media", "--kind", "video", site.url("/player"), command="add")
    assert code == 0, stderr
    code, _, stderr = crawl(settings, site, "-c", "media", site.url("/watch"), command="add")
    assert code == 0, stderr
    code, summary, stderr = crawl(settings, site, "-c", "media", extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "3300",
                                                                           "LASTSEEN_DOWNLOAD_TIMEOUT": "20"})
    assert code == 0, stderr[-3000:]
    yield settings


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_media_goes_into_the_warc_files(crawled: Settings, site: Site) -> None:
    records = warc_records(crawled)
    by_id = {headers.get_header("WARC-Record-ID"): (kind, headers, body) for kind, headers, body in records}
    described = {headers.get_header("WARC-Concurrent-To"): json.loads(body) for kind, headers, body in records
                 if kind == "metadata"}
    # A direct link: its capture's response record, under its own URL, is the media; its info JSON beside it.
    direct = [(h, b) for k, h, b in records if k == "response" and h.get_header("WARC-Target-URI") ==
              site.url("/media/clip.mp4")]
    assert len(direct) == 1 and direct[0][1] == CLIP
    assert described[direct[0][0].get_header("WARC-Record-ID")]["url"] == site.url("/media/clip.mp4")
    # A provider page: yt-dlp's download as a resource record under the media's own URL (never the page's), tied to
    # the page's response record, with metadata naming both, poster and subtitles.
    assert not [h for k, h, _ in records if k == "resource" and h.get_header("WARC-Target-URI") == site.url("/player")]
    resources = [(h, b) for k, h, b in records if k == "resource" and h.get_header("WARC-Target-URI") ==
                 site.url("/files/p.mp4")]
    assert len(resources) == 1
    media_headers, media = resources[0]
    assert media == PLAYER_MP4 and media_headers.get_header("Content-Type") == "video/mp4"
    page = next(h for k, h, _ in records if k == "response" and h.get_header("WARC-Target-URI") == site.url("/player"))
    assert media_headers.get_header("WARC-Concurrent-To") == page.get_header("WARC-Record-ID")
    media_id = media_headers.get_header("WARC-Record-ID")
    info = described[media_id]
    assert info["title"].startswith("Flood, filmed") and info["webpage_url"] == site.url("/player")
    assert info["lastseen"] == {"page_url": site.url("/player"), "media_uri": site.url("/files/p.mp4"),
                                "media_record_id": media_id}
    extras = {h.get_header("WARC-Target-URI"): (b, h.get_header("Lastseen-Language"))
              for _, (k, h, b) in by_id.items() if k == "resource" and h.get_header("WARC-Concurrent-To") == media_id}
    # yt-dlp keeps one track a language; the page's other tracks are fetched beside it (not its chapters).
    assert extras == {site.url("/files/p.jpg"): (POSTER, None), site.url("/files/p.en.vtt"): (CAPTIONS.encode(), "en"),
                      site.url("/files/p.cc.vtt"): (CAPTIONS.replace("rises", "rises [water]").encode(), "en"),
                      site.url("/files/p.ad.vtt"): (CAPTIONS.replace("the river rises", "a man waves").encode(), "und")}
    for kind, _headers, body in records:
        if kind == "metadata":
            assert SECRET.encode() not in body and b'"cookies"' not in body, "no cookies in any info JSON"
    sessions = open_database(crawled.database_url)
    with session_scope(sessions) as session:
        videos = {v.source.normalized_url: v for v in session.scalars(select(Video))}
        player, clip = videos[site.url("/player")], videos[site.url("/media/clip.mp4")]
        assert (player.media_sha256, player.media_size) == (hashlib.sha256(PLAYER_MP4).hexdigest(), len(PLAYER_MP4))
        assert player.media_capture.record_type == "resource" and player.media_capture.content_type == "video/mp4"
        assert (clip.media_sha256, clip.media_size) == (hashlib.sha256(CLIP).hexdigest(), len(CLIP))
        assert clip.media_capture.record_type == "response" and clip.media_capture.url == site.url("/media/clip.mp4")
        # Failed downloads are crawl failures with their reason; the page that showed them is captured all the same.
        failures = {f.url.rsplit("/", 1)[1]: f.reason for f in session.scalars(select(CrawlFailure))
                    if f.reason.startswith("media")}
        assert failures == {"huge.mp4": "media_too_large", "gone.mp4": "media_error"}
        assert videos[site.url("/media/huge.mp4")].media_capture_id is None
        page = session.scalar(select(Capture).join(Source).where(Source.normalized_url == site.url("/watch")))
        assert page is not None and page.http_status == 200
    sessions.kw["bind"].dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_page_stays_the_page_in_pywb_and_the_media_has_its_own_url(crawled: Settings, site: Site,
                                                                        pywb) -> None:  # type: ignore[no-untyped-def]
    """pywb's newest capture of the player page is the page's HTML, not yt-dlp's MP4; the MP4 is under its URL."""
    import time

    import requests

    exported = crawled.data_dir / "media.warc.gz"
    code, _, stderr = crawl(crawled, site, str(exported), "-c", "media", command="export")
    assert code == 0, stderr
    (pywb.root / "collections" / pywb.collection / "archive" / exported.name).write_bytes(exported.read_bytes())

    def ask(path: str) -> requests.Response:
        return requests.get(f"{pywb.base_url}/{pywb.collection}/{path}", timeout=10, proxies={"http": "", "https": ""})

    deadline = time.monotonic() + 90  # pywb indexes new files every second, later on a loaded machine
    while (page := ask(f"2030id_/{site.url('/player')}")).status_code != 200:
        assert time.monotonic() < deadline, "pywb never indexed the export"
        time.sleep(0.5)
    assert page.headers["Content-Type"].startswith("text/html") and b"Flood, filmed" in page.content
    assert ask(f"2030id_/{site.url('/files/p.mp4')}").content == PLAYER_MP4


def test_the_media_url_is_the_one_file_yt_dlp_fetched_as_is() -> None:
    single = {"requested_downloads": [{"url": "https://cdn.test/v.mp4", "protocol": "https"}]}
    assert media_url(single) == "https://cdn.test/v.mp4"
    merged = {"requested_downloads": [{"requested_formats": [{"url": "https://cdn.test/v"}, {"url": "https://a"}]}]}
    assert media_url(merged) is None
    assert media_url({"requested_downloads": [{"url": "https://cdn.test/v.m3u8", "protocol": "m3u8_native"}]}) is None
    assert media_url({}) is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_status_and_api_show_and_serve_the_media(crawled: Settings, site: Site, api: ApiServer) -> None:
    done = lastseen(crawled, site, "status", site.url("/player"))
    assert done.returncode == 0, done.stderr
    sha = hashlib.sha256(PLAYER_MP4).hexdigest()
    assert f"{len(PLAYER_MP4)} bytes" in done.stdout and f"sha256:{sha}" in done.stdout
    with session_scope(open_database(crawled.database_url)) as session:
        video = session.scalar(select(Video).join(Source).where(Source.normalized_url == site.url("/player")))
        capture = video.media_capture
        location = f"{capture.warc_uri} @{capture.warc_offset}+{capture.warc_length}"
        capture_id = capture.id
    assert location in done.stdout
    whole = api.get(f"/api/captures/{capture_id}")
    assert whole.status_code == 200 and whole.content == PLAYER_MP4 and whole.headers["Accept-Ranges"] == "bytes"
    part = api.get(f"/api/captures/{capture_id}", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == PLAYER_MP4[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(PLAYER_MP4)}"
    tail = api.get(f"/api/captures/{capture_id}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == PLAYER_MP4[-10:]
    beyond = api.get(f"/api/captures/{capture_id}", headers={"Range": f"bytes={len(PLAYER_MP4)}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(PLAYER_MP4)}"
    with session_scope(open_database(crawled.database_url)) as session:
        source_id = session.scalar(select(Source.id).where(Source.normalized_url == site.url("/player")))
    page = api.get(f"/sources/{source_id}")
    assert page.status_code == 200 and f"<video id='media' controls preload='metadata' src='/api/captures/" \
                                       f"{capture_id}'" in page.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_collection_without_media_keeps_none_and_a_later_crawl_fetches_what_is_missing(
        settings: Settings, site: Site) -> None:
    provider_site(site)
    done = lastseen(settings, site, "collection", "quiet", "--media", "no")
    assert done.returncode == 0 and "media" in done.stdout, done.stderr
    code, _, stderr = crawl(settings, site, "-c", "quiet", "--kind", "video", site.url("/player"), command="add")
    assert code == 0, stderr
    code, _, stderr = crawl(settings, site, "-c", "quiet")
    assert code == 0, stderr[-3000:]
    assert not [k for k, _, _ in warc_records(settings) if k == "resource"]
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        assert session.scalar(select(Video.media_capture_id)) is None
        session.scalar(select(Collection).where(Collection.name == "quiet")).media = True
    code, _, stderr = crawl(settings, site, "-c", "quiet")  # nothing new to capture: the video's media is missing
    assert code == 0, stderr[-3000:]
    with session_scope(sessions) as session:
        assert session.scalar(select(Video.media_sha256)) == hashlib.sha256(PLAYER_MP4).hexdigest()
    sessions.kw["bind"].dispose()


def test_info_json_loses_cookies_and_credentials() -> None:
    info = {"title": "t", "cookies": "a=1", "http_headers": {"Cookie": "a=1", "Authorization": "Bearer x",
                                                             "User-Agent": "UA"},
            "formats": [{"url": "u", "cookies": "b=2", "http_headers": {"cookie": "b=2", "Referer": "r"}}],
            "requested_downloads": [{"filepath": "/tmp/x/media.mp4", "ext": "mp4"}]}
    assert clean_info(info) == {"title": "t", "http_headers": {"User-Agent": "UA"},
                                "formats": [{"url": "u", "http_headers": {"Referer": "r"}}],
                                "requested_downloads": [{"ext": "mp4"}]}


def test_format_plays_in_browsers_and_needs_ffmpeg_only_to_merge() -> None:
    assert media_format(720, True).startswith("bv*[height<=?720][ext=mp4]+ba[ext=m4a]/b[height<=?720][ext=mp4]")
    assert "+" not in media_format(480, False) and "[height<=?480]" in media_format(480, False)


@pytest.mark.parametrize(("header", "size", "wanted"), [
    (None, 10, None), ("bytes=0-3", 10, (0, 3)), ("bytes=5-", 10, (5, 9)), ("bytes=-3", 10, (7, 9)),
    ("bytes=8-100", 10, (8, 9)), ("bytes=0-1,4-5", 10, None), ("items=0-1", 10, None), ("bytes=a-b", 10, None)])
def test_byte_ranges(header: str | None, size: int, wanted: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == wanted


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=5-2", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(ValueError):
        byte_range(header, 10)


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_ytdlp_trusts_the_configured_ca_bundle(tmp_path: Path, variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from archive.providers.info import fetch_ytdlp

    cert, key = self_signed_certificate(tmp_path)
    secure = Site(tls=(cert, key)).start()
    secure.set("/clip.mp4", Page(CLIP, content_type="video/mp4"))
    try:
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
            monkeypatch.delenv(name, raising=False)
        allow = (f"127.0.0.1/32:{secure.port}",)
        refused = fetch_ytdlp(secure.url("/clip.mp4"), timeout=5, allow_networks=allow)
        assert refused.info is None and "CERTIFICATE_VERIFY_FAILED" in refused.message
        monkeypatch.setenv(variable, str(cert))
        trusted = fetch_ytdlp(secure.url("/clip.mp4"), timeout=5, allow_networks=allow)
        assert trusted.info is not None and trusted.info["url"] == secure.url("/clip.mp4"), trusted.message
    finally:
        secure.stop()
