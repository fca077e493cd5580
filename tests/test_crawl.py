"""The archiving crawl end to end: a local site in, WARC in storage and rows in the database out."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.models import Capture, CrawlFailure, PageVideo, Source, StatusTransition, Video, WaybackSubmission
from archive.storage import open_storage
from archive.timefmt import iso
from tests.servers.seaweed import ACCESS_KEY, SECRET_KEY
from tests.servers.site import Page, Site

ARTICLE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Flood in the valley</title>
<link rel="canonical" href="{base}/plain">
<meta property="og:site_name" content="Valley News">
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "NewsArticle",
 "headline": "Flood in the valley", "author": [{{"@type": "Person", "name": "Ann Reporter"}}],
 "datePublished": "2026-11-20T10:00:00Z"}}</script>
</head><body><nav>Home | World</nav><article><h1>Flood in the valley</h1>
<p>The river rose three metres overnight and the old bridge was closed by the police.</p>
<p>Residents filmed the water reaching the market square; the videos are below.</p>
<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ?rel=0"></iframe>
<a href="https://youtu.be/dQw4w9WgXcQ">same video, short link</a>
<iframe src="https://player.vimeo.com/video/76979871"></iframe>
<video src="/media/clip.mp4"></video>
<a href="/gz">more</a> <a href="https://elsewhere.example/x">elsewhere</a>
</article><footer>(c) Valley News</footer></body></html>"""

CYRILLIC = ("<html><head><title>Новости региона</title></head><body><article><p>Сегодня в городе прошёл "
            "митинг, полиция задержала несколько человек.</p><p>Видео с места событий опубликовали "
            "очевидцы.</p></article></body></html>")


def build_site(site: Site) -> dict[str, bytes]:
    """Every kind of page the crawl must handle; returns the exact bodies served, by path."""
    base = site.url("").rstrip("/")
    article = ARTICLE.format(base=base)
    gz_page = Page("<html><head><title>Compressed</title></head><body><p>" + "gzip body " * 200
                   + "</p></body></html>", encoding="gzip")
    site.set("/plain", Page(article, headers=[("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")]))
    site.set("/gz", gz_page)
    chunked = Page("<html><head><title>Chunked</title></head><body><p>" + "piece " * 300 + "</p></body></html>",
                   chunked=True)
    site.set("/chunked", chunked)
    site.set("/cp1251", Page(CYRILLIC, content_type="text/html; charset=windows-1251", charset_body="cp1251"))
    site.set("/moved", Page("", status=301, headers=[("Location", "/target")], content_type=None))
    site.set("/target", Page("<html><head><title>Target</title></head><body>arrived</body></html>"))
    site.set("/gone", Page("<html><body>Not here</body></html>", status=404))
    site.set("/hang", Page("late", hang=6))
    site.set("/loop", Page("", status=302, headers=[("Location", "/loop2")], content_type=None))
    site.set("/loop2", Page("", status=302, headers=[("Location", "/loop")], content_type=None))
    site.set("/empty", Page(b""))
    site.set("/binary", Page(bytes(range(256)) * 20))
    site.set("/media/clip.mp4", Page(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500, content_type="video/mp4"))
    return {"/plain": article.encode(), "/gz": gz_page.payload(), "/chunked": chunked.payload()}


def crawl(settings: Settings, site: Site, *args: str, seaweed_url: str | None = None,
          extra_env: dict[str, str] | None = None, command: str = "crawl") -> tuple[int, dict, str]:
    """Run `lastseen crawl --json` as a user would, with the test site as the only way out."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),  # this checkout's code, not the venv's install
        "LASTSEEN_DATA_DIR": str(settings.data_dir),
        "LASTSEEN_DATABASE_URL": settings.database_url,
        "LASTSEEN_STORAGE_URL": settings.storage_url,
        "LASTSEEN_PROXY": site.url("").rstrip("/"),
        "LASTSEEN_DOWNLOAD_TIMEOUT": "2",
        "LASTSEEN_CHECK_TIMEOUT": "2",
        "LASTSEEN_CRAWL_RETRIES": "1",
        "LASTSEEN_ALLOW_NETWORKS": "127.0.0.1/32",
        "LASTSEEN_SCREENSHOTS": "no",  # Chromium only where a test looks at screenshots
        "LASTSEEN_CAPTURE": "http",  # ...or at browser capture
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]  # the code under test, when it is not the installed one
    if seaweed_url:
        env["LASTSEEN_S3_ENDPOINT_URL"] = seaweed_url
    if os.environ.get("PYTHONPATH"):  # a worktree's code, not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update(extra_env or {})
    lastseen = Path(sys.executable).with_name("lastseen")
    result = subprocess.run([str(lastseen), command, "--json", *args], capture_output=True, text=True, env=env,
                            timeout=240)
    try:
        summary = json.loads(result.stdout)
    except ValueError:
        summary = {}
    return result.returncode, summary, result.stderr


def stored_records(settings: Settings) -> list:
    """Every record of every WARC file in storage, re-read with warcio."""
    storage = open_storage(settings)
    records = []
    for key in storage.keys("warc/"):
        if key.endswith(".warc.gz"):
            import io

            for record in ArchiveIterator(io.BytesIO(storage.read(key))):
                records.append((key, record.rec_type, record.rec_headers, record.content_stream().read()))
    return records


@pytest.fixture
def crawl_settings(settings: Settings, storage_url: str) -> Settings:
    return settings


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_crawl_captures_a_site(crawl_settings: Settings, site: Site, request: pytest.FixtureRequest) -> None:
    settings = crawl_settings
    served = build_site(site)
    paths = ["/plain", "/gz", "/chunked", "/cp1251", "/moved", "/gone", "/hang", "/loop", "/empty", "/binary"]
    seaweed_url = settings.s3_endpoint_url or None
    code, summary, stderr = crawl(settings, site, *[site.url(p) for p in paths], "-c", "flood",
                                  seaweed_url=seaweed_url)
    assert code == 0, stderr[-3000:]
    assert summary["captured"] >= 5, summary
    failed = summary["failed"]
    assert failed.get("http_404") == 1
    assert failed.get("timeout") == 1
    assert failed.get("redirect_loop") == 1
    assert failed.get("empty_body") == 1
    assert failed.get("binary_as_html") == 1
    assert summary["storage_error"] is None and summary["warc_files"]

    sessions = open_database(settings.database_url)
    storage = open_storage(settings)
    with session_scope(sessions) as session:
        captures = {c.url: c for c in session.scalars(select(Capture))}
        by_path = {url.split(str(site.port), 1)[1]: c for url, c in captures.items()}
        assert set(by_path) >= {"/plain", "/gz", "/chunked", "/cp1251", "/target", "/gone", "/empty", "/binary"}
        plain = by_path["/plain"]
        assert plain.http_status == 200 and plain.record_type == "response"
        assert plain.payload_sha256 == hashlib.sha256(served["/plain"]).hexdigest()
        assert plain.page_meta["title"] == "Flood in the valley"
        assert plain.page_meta["authors"] == ["Ann Reporter"]
        assert by_path["/cp1251"].page_meta["title"] == "Новости региона"
        assert by_path["/cp1251"].page_meta["charset"].lower() in {"windows-1251", "cp1251"}
        source = session.get(Source, plain.source_id)
        assert source.status == "alive" and source.first_seen_at is not None and source.last_seen_alive_at
        first_life = session.scalars(select(StatusTransition).where(StatusTransition.source_id == source.id)).all()
        assert [(t.from_status, t.to_status, t.kind) for t in first_life] == [("new", "alive", "alive")], \
            "the crawl's proof of life goes through the status machine and is recorded"
        assert first_life[0].evidence == [{"capture_id": plain.id, "at": iso(plain.captured_at), "http_status": 200}]
        assert session.get(Source, by_path["/gone"].source_id).status == "new", "a 404 is no proof of life"
        queued = {w.source_id for w in session.scalars(select(WaybackSubmission))}
        assert len(queued) == summary["captured"] and plain.source_id in queued, "new content goes to Wayback"
        assert by_path["/gone"].source_id not in queued
        failures = {f.reason: f for f in session.scalars(select(CrawlFailure))}
        assert failures["timeout"].url.endswith("/hang") and failures["redirect_loop"].url.endswith("/loop")

        # One ranged read of the capture's record gives back exactly the bytes the server sent.
        key = storage.key_of(plain.warc_uri)
        member = storage.read(key, plain.warc_offset, plain.warc_length)
        import io

        record = next(iter(ArchiveIterator(io.BytesIO(member))))
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Target-URI") == site.url("/plain")
        assert record.content_stream().read() == served["/plain"]
        cookies = [v for k, v in record.http_headers.headers if k.lower() == "set-cookie"]
        assert cookies == ["a=1; Path=/", "b=2; Path=/"]

        # The gzip page is archived as sent: still compressed, Content-Encoding kept.
        gz = by_path["/gz"]
        member = storage.read(storage.key_of(gz.warc_uri), gz.warc_offset, gz.warc_length)
        raw = gzip.decompress(member)
        assert b"Content-Encoding: gzip" in raw
        assert gz.payload_sha256 == hashlib.sha256(served["/gz"]).hexdigest()

        # The chunked page is stored de-chunked with a Content-Length that matches.
        ch = by_path["/chunked"]
        head = gzip.decompress(storage.read(storage.key_of(ch.warc_uri), ch.warc_offset, ch.warc_length))
        http_head = head.split(b"\r\n\r\n")[1].lower()
        assert http_head.startswith(b"http/1.1 200") and b"transfer-encoding" not in http_head
        body = head.split(b"\r\n\r\n", 2)[2].rstrip(b"\r\n")
        assert f"content-length: {len(body)}".encode() in http_head and body == served["/chunked"]

        # Videos: the YouTube video linked two ways is one source, tied to the page, like Vimeo's.
        videos = {(v.provider, v.video_id): v for v in session.scalars(select(Video))}
        assert ("youtube", "dQw4w9WgXcQ") in videos and ("vimeo", "76979871") in videos
        youtube = videos[("youtube", "dQw4w9WgXcQ")]
        assert session.get(Source, youtube.source_id).kind == "video"
        links = {(pv.page_source_id, pv.video_id) for pv in session.scalars(select(PageVideo))}
        assert (plain.source_id, youtube.id) in links
    # Nothing left this machine: HTTPS to YouTube and Vimeo was asked of the test proxy and refused.
    assert any("youtube.com" in t for t in site.tunnels)

    # Every WARC file passes warcio's own check, and each has its CDXJ index beside it.
    keys = list(storage.keys("warc/"))
    warcs = [k for k in keys if k.endswith(".warc.gz")]
    assert warcs and all(f"{k}.cdxj" in keys or k.replace(".warc.gz", ".cdxj") in keys for k in warcs)
    local = settings.data_dir / "check"
    local.mkdir()
    for index, key in enumerate(warcs):
        path = local / f"{index}.warc.gz"
        path.write_bytes(storage.read(key))
        checked = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", "-v", str(path)],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    types = [r[1] for r in stored_records(settings)]
    assert types[0] == "warcinfo" and "request" in types and "metadata" in types

    # A second crawl of unchanged pages writes revisit records, not the bodies again.
    code, again, stderr = crawl(settings, site, site.url("/plain"), site.url("/gz"), "-c", "flood",
                                seaweed_url=seaweed_url)
    assert code == 0, stderr[-2000:]
    assert again["unchanged"] == 2 and again["captured"] == 0, again
    with session_scope(sessions) as session:
        revisits = list(session.scalars(select(Capture).where(Capture.record_type == "revisit")))
        assert len(revisits) == 2
        assert len(list(session.scalars(select(WaybackSubmission)))) == summary["captured"], "unchanged: not again"
    revisit_records = [r for r in stored_records(settings) if r[1] == "revisit"]
    assert len(revisit_records) == 2
    assert all(r[2].get_header("WARC-Profile").endswith("identical-payload-digest") for r in revisit_records)
    sessions.kw["bind"].dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("storage_url", ["s3"], indirect=True)
def test_crawl_on_postgres_and_s3(crawl_settings: Settings, site: Site) -> None:
    """The default collection's uncaptured sources are crawled once; a second run finds nothing to do."""
    settings = crawl_settings
    build_site(site)
    sessions = open_database(settings.database_url)
    from archive.sources import SourceEntry, add_sources, ensure_collection

    with session_scope(sessions) as session:
        add_sources(session, ensure_collection(session, "default"),
                    [SourceEntry(site.url("/target")), SourceEntry(site.url("/cp1251"))])
    code, summary, stderr = crawl(settings, site, seaweed_url=settings.s3_endpoint_url)
    assert code == 0, stderr[-3000:]
    assert summary["captured"] == 2 and all(uri.startswith("s3://") for uri in summary["warc_files"])
    code, summary, stderr = crawl(settings, site, seaweed_url=settings.s3_endpoint_url)
    assert code == 0 and summary["captured"] == 0 and summary["requests"] == 0
    with session_scope(sessions) as session:
        assert len(list(session.scalars(select(Capture)))) == 2
    sessions.kw["bind"].dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pages_are_described_after_the_crawl_and_describe_catches_up(settings: Settings, site: Site) -> None:
    """The crawl describes its pages from the stored records; `lastseen describe` does what a killed crawl left."""
    build_site(site)
    # --no-media: the video /plain shows would add its own metadata record (yt-dlp's info), not a description.
    code, summary, stderr = crawl(settings, site, site.url("/plain"), site.url("/gz"), "-c", "flood", "--no-media")
    assert code == 0 and summary["described"] == 2, stderr[-2000:]
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        captures = {c.url.rsplit("/", 1)[1]: c for c in session.scalars(select(Capture))}
        assert captures["gz"].page_meta["title"] == "Compressed", "read back from the gzip body as sent"
        record_ids = {name: c.record_id for name, c in captures.items()}
        for capture in captures.values():
            capture.page_meta = None  # as a crawl killed before describing leaves them
    code, caught_up, stderr = crawl(settings, site, "-c", "flood", command="describe")
    assert (code, caught_up) == (0, {"described": 2}), stderr[-2000:]
    with session_scope(sessions) as session:
        captures = {c.url.rsplit("/", 1)[1]: c for c in session.scalars(select(Capture))}
        assert captures["plain"].page_meta["title"] == "Flood in the valley"
        assert captures["plain"].page_meta["authors"] == ["Ann Reporter"]
        assert captures["plain"].page_meta["text_sha256"]
    sessions.kw["bind"].dispose()
    metadata = [(h.get_header("WARC-Concurrent-To"), h.get_header("WARC-Target-URI"))
                for _key, kind, h, _body in stored_records(settings) if kind == "metadata"]
    assert sorted(metadata) == sorted(2 * [(record_ids["plain"], "urn:lastseen:metadata:" + site.url("/plain")),
                                           (record_ids["gz"], "urn:lastseen:metadata:" + site.url("/gz"))])
    code, again, _ = crawl(settings, site, "-c", "flood", command="describe")
    assert again == {"described": 0}, "described pages are not described again"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_storage_down_means_no_capture_rows(settings: Settings, site: Site, tmp_path: Path) -> None:
    """With the bucket unreachable the crawl refuses to start: exit 2, one line, no rows."""
    build_site(site)
    broken = settings.replace(storage_url="s3://nowhere", s3_endpoint_url="http://127.0.0.1:9")
    code, _, stderr = crawl(broken, site, site.url("/plain"), seaweed_url="http://127.0.0.1:9")
    assert code == 2 and "lastseen: error:" in stderr and "Traceback" not in stderr
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        assert list(session.scalars(select(Capture))) == []
    sessions.kw["bind"].dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_depth_robots_size_cap_and_export(settings: Settings, site: Site) -> None:
    """--depth follows same-site links only; robots.txt is obeyed unless the collection says not; big pages fail."""
    site.set("/robots.txt", Page("User-agent: *\nDisallow: /private\n", content_type="text/plain"))
    site.set("/start", Page("""<html><head><title>Start</title></head><body>
        <a href="/a">a</a> <a href="/private/x">private</a> <a href="http://elsewhere.test/z">away</a></body></html>"""))
    site.set("/a", Page("<html><head><title>A</title></head><body><a href='/b'>b</a></body></html>"))
    site.set("/b", Page("<html><head><title>B</title></head><body>deep</body></html>"))
    site.set("/private/x", Page("<html><head><title>Private</title></head><body>kept out</body></html>"))
    site.set("/big", Page("<html><body>" + "x" * 20000 + "</body></html>"))
    site.set("/leak", Page("", status=302, headers=[("Location", f"http://127.0.0.2:{site.port}/secret")],
                           content_type=None))

    code, summary, stderr = crawl(settings, site, site.url("/start"), "-c", "deep", "--depth", "1")
    assert code == 0, stderr[-2000:]
    assert summary["captured"] == 2 and summary["failed"] == {"robots_txt": 1}, summary
    assert site.hits("/a") == 1 and site.hits("/b") == 0 and site.hits("/private/x") == 0

    code, out, _ = crawl(settings, site, "deep", "--robots", "ignore", command="collection")
    assert code == 0 and out["obey_robots"] is False
    code, summary, stderr = crawl(settings, site, site.url("/private/x"), site.url("/big"), site.url("/leak"),
                                  "-c", "deep", extra_env={"LASTSEEN_PAGE_SIZE_CAP": "10KB"})
    assert code == 0, stderr[-2000:]
    assert summary["captured"] == 1 and summary["failed"] == {"too_large": 1, "blocked_address": 1}, summary
    assert site.hits("/private/x") == 1

    # One file for researchers, as .warc.gz and as .wacz, holding every capture of the collection.
    out_warc = settings.data_dir / "export" / "deep.warc.gz"
    code, result, stderr = crawl(settings, site, str(out_warc), "-c", "deep", command="export")
    assert code == 0, stderr
    import io

    uris = {r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(io.BytesIO(out_warc.read_bytes()))
            if r.rec_type == "response"}
    assert {site.url("/start"), site.url("/a"), site.url("/private/x")} <= uris
    out_wacz = settings.data_dir / "export" / "deep.wacz"
    code, result, stderr = crawl(settings, site, str(out_wacz), "-c", "deep", command="export")
    assert code == 0, stderr
    import zipfile

    with zipfile.ZipFile(out_wacz) as package:
        names = package.namelist()
        assert "datapackage.json" in names and "indexes/index.cdx.gz" in names
        pages = package.read("pages/pages.jsonl").decode()
        assert site.url("/a") in pages and '"title": "A"' in pages
    code, _, stderr = crawl(settings, site, str(settings.data_dir / "x.zip"), "-c", "deep", command="export")
    assert code == 2 and "lastseen: error:" in stderr and "Traceback" not in stderr
    code, _, stderr = crawl(settings, site, str(out_warc), "-c", "nope", command="export")
    assert code != 0 and "nope" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_media_crawl_keeps_no_media(settings: Settings, site: Site) -> None:
    """`crawl --no-media` overrides the collection's switch: the direct video is captured, no media kept."""
    clip = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
    site.set("/media/clip.mp4", Page(clip, content_type="video/mp4"))
    site.set("/watch", Page('<html><head><title>Clip</title></head><body><video src="/media/clip.mp4"></video>'
                            '</body></html>'))
    code, summary, stderr = crawl(settings, site, site.url("/watch"), "-c", "media", "--no-media")
    assert code == 0, stderr[-3000:]
    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        video = session.scalar(select(Video))
        assert video is not None and video.media_capture_id is None and video.media_sha256 is None
        assert not [f for f in session.scalars(select(CrawlFailure)) if f.reason.startswith("media")]
    sessions.kw["bind"].dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_warc_files_left_by_a_dead_crawl_are_stored_by_the_next(settings: Settings, site: Site) -> None:
    from datetime import UTC, datetime

    from archive.warc import RollingWarcWriter

    site.set("/plain", Page("<html><head><title>P</title></head><body>p</body></html>"))
    left = {}
    for prefix in ("lastseen-left", "lastseen-left-over"):
        writer = RollingWarcWriter(settings.spool_dir, prefix=prefix, max_size=10**9, warcinfo={"a": "b"},
                                   on_close=lambda closed: None)
        writer.write_exchange(url=f"http://gone.example/{prefix}", method="GET", request_headers=[],
                              http_version="HTTP/1.1", status=200, reason="OK", response_headers=[],
                              body=b"evidence", ip_address=None, fetched_at=datetime.now(UTC))
        writer._fh.flush()  # and the crawl dies
        left[prefix] = writer.current_file
    code, summary, stderr = crawl(settings, site, site.url("/plain"), "-c", "left")
    assert code == 0 and summary["captured"] == 1, stderr[-2000:]
    keys = list(open_storage(settings).keys("warc/"))
    assert any(key.endswith(left["lastseen-left"]) for key in keys), "the dead crawl's evidence is stored"
    assert any(key.endswith(left["lastseen-left"] + ".cdxj") for key in keys)
    assert not any(key.endswith(left["lastseen-left-over"]) for key in keys), "another collection's file is not"
    assert (settings.spool_dir / (left["lastseen-left-over"] + ".open")).exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_socks_proxy_is_refused_by_the_crawl_in_one_line(settings: Settings, site: Site) -> None:
    code, _, stderr = crawl(settings, site, site.url("/plain"), extra_env={"LASTSEEN_PROXY": "socks5://127.0.0.1:9"})
    assert code == 2 and "only to HTTP proxies" in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pywb_replays_an_exported_collection(settings: Settings, site: Site, pywb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What lastseen writes is replayable by a standard tool: a real pywb serves the original bodies from it."""
    import time

    import requests

    served = build_site(site)
    code, summary, stderr = crawl(settings, site, site.url("/plain"), site.url("/gz"), "-c", "replay")
    assert code == 0 and summary["captured"] >= 2, stderr[-2000:]  # and the video /plain shows
    site.stop()  # from here on, pywb can only answer from the archive, not by recording the live site
    exported = settings.data_dir / "replay.warc.gz"
    code, _, stderr = crawl(settings, site, str(exported), "-c", "replay", command="export")
    assert code == 0, stderr
    target = pywb.root / "collections" / pywb.collection / "archive" / exported.name
    target.write_bytes(exported.read_bytes())

    def replay(path: str) -> requests.Response:
        return requests.get(f"{pywb.base_url}/{pywb.collection}/2030id_/{site.url(path)}", timeout=10,
                            proxies={"http": "", "https": ""})

    deadline = time.monotonic() + 90  # pywb indexes new files every second, later on a loaded machine
    while (answer := replay("/plain")).status_code != 200:
        assert time.monotonic() < deadline, f"pywb never indexed the export: {answer.status_code}"
        time.sleep(0.5)
    assert answer.content == served["/plain"]
    assert answer.headers.get("Memento-Datetime")
    assert replay("/gz").content == gzip.decompress(served["/gz"]), "the gzip body as sent, decoded by the client"


def _descendants(pid: int) -> set[int]:
    """Every live process below pid, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_crawl_killed_with_sigkill_leaves_no_process_behind(settings: Settings, site: Site) -> None:
    """Its describe workers and multiprocessing's resource tracker used to run for ever (12 of 12 kills)."""
    build_site(site)
    env = {**os.environ, "LASTSEEN_DATA_DIR": str(settings.data_dir), "LASTSEEN_DATABASE_URL": settings.database_url,
           "LASTSEEN_STORAGE_URL": settings.storage_url, "LASTSEEN_ALLOW_NETWORKS": "127.0.0.1/32",
           "LASTSEEN_DOWNLOAD_TIMEOUT": "60", "LASTSEEN_DESCRIBE_WORKERS": "2"}
    site.set("/slow", Page("late", hang=30))
    lastseen = Path(sys.executable).with_name("lastseen")
    crawl_process = subprocess.Popen([str(lastseen), "crawl", site.url("/plain"), site.url("/slow")], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        helpers: set[int] = set()
        while time.monotonic() < deadline and len(helpers) < 2:
            helpers = _descendants(crawl_process.pid)
            time.sleep(0.2)
        assert len(helpers) >= 2, "the crawl started its describe workers"
    finally:
        crawl_process.kill()
        crawl_process.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(pid) for pid in helpers):
        time.sleep(0.2)
    assert [pid for pid in helpers if _alive(pid)] == []


def test_the_progress_bar_counts_requests_and_gives_the_cursor_back(settings: Settings, site: Site) -> None:
    """It stayed at 0/? and left the cursor hidden."""
    import pty
    import re

    build_site(site)
    site.set("/slow", Page("<html><head><title>Slow</title></head><body>late</body></html>", hang=1.5))
    env = {**os.environ, "LASTSEEN_DATA_DIR": str(settings.data_dir), "LASTSEEN_DATABASE_URL": settings.database_url,
           "LASTSEEN_STORAGE_URL": settings.storage_url, "LASTSEEN_ALLOW_NETWORKS": "127.0.0.1/32",
           "TERM": "xterm-256color", "COLUMNS": "120"}
    master, slave = pty.openpty()
    lastseen = Path(sys.executable).with_name("lastseen")
    process = subprocess.Popen([str(lastseen), "crawl", site.url("/plain"), site.url("/gz"), site.url("/slow")],
                               stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    assert process.wait(timeout=120) == 0, screen.decode(errors="replace")[-2000:]
    text = screen.decode(errors="replace")
    bar = text[:text.rfind("\x1b[?25h")]  # the frames drawn while the bar was up
    counts = [(int(a), int(b)) for a, b in re.findall(r"(?<![\d/])(\d+)/(\d+)(?![\d/])", bar)]
    assert any(0 < done < queued for done, queued in counts), counts
    assert all(done <= queued for done, queued in counts)
    assert "/?" not in text
    assert text.rfind("\x1b[?25l") < text.rfind("\x1b[?25h"), "the cursor is shown again at the end"
    assert re.search(r"captured [3-9]", text), "the summary follows the bar"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_screenshot_of_the_archived_page_is_in_its_warc(settings: Settings, site: Site) -> None:
    """Chromium renders from the archive alone: the page and the stylesheet the crawl captured are answered from
    the WARC records, a stylesheet the crawl does not hold fails instead of being fetched, and the site sees no
    request while the screenshot is taken; the PNG joins the page's WARC."""
    import png

    site.set("/blue", Page('<html><head><link rel="stylesheet" href="/style.css">'
                           '<link rel="stylesheet" href="/live.css"></head><body>'
                           '<img style="position:absolute" src="http://10.255.255.1/t.png">'
                           '<div style="height:1500px">tall</div></body></html>'))
    site.set("/style.css", Page("body { margin: 0; background: #3366cc }", content_type="text/css"))
    site.set("/live.css", Page("div { background: #ff0000 }", content_type="text/css"))
    site.set("/pic.png", Page(b"not an image", content_type="image/png"))
    # Requisites off: /live.css stands for what the crawl does not hold (as a requisite it would be fetched).
    env = {"LASTSEEN_SCREENSHOTS": "yes", "LASTSEEN_PROXY": "", "LASTSEEN_CONCURRENCY_PER_HOST": "1",
           "LASTSEEN_REQUISITES": "no"}
    code, summary, stderr = crawl(settings, site, site.url("/style.css"), site.url("/blue"), site.url("/pic.png"),
                                  "-c", "shots", extra_env=env)
    assert code == 0 and summary["captured"] == 3, stderr[-3000:]
    records = stored_records(settings)
    response = next(h for _, kind, h, _ in records if kind == "response" and h.get_header("WARC-Target-URI")
                    == site.url("/blue"))
    shots = [(key, h, body) for key, kind, h, body in records if kind == "resource"]
    assert len(shots) == 1, "one screenshot: the image is no HTML page"
    key, headers, body = shots[0]
    assert headers.get_header("WARC-Target-URI") == "urn:lastseen:screenshot:" + site.url("/blue")
    assert headers.get_header("WARC-Concurrent-To") == response.get_header("WARC-Record-ID")
    assert headers.get_header("Content-Type") == "image/png"
    assert key == next(k for k, kind, h, _ in records if h is response), "in the same WARC file as the page"
    width, height, rows, info = png.Reader(bytes=body).asRGBA8()
    assert (width, height) == (1280, 1500), "the full page, not the 800-pixel viewport"
    assert site.hits("/blue") == 1 and site.hits("/style.css") == 1, "the crawl's fetches, none for the screenshot"
    assert site.hits("/live.css") == 0, "what the archive does not hold is not fetched"
    row = list(rows)[1400]
    assert tuple(row[640 * 4:640 * 4 + 3]) == (0x33, 0x66, 0xCC)
    with session_scope(open_database(settings.database_url)) as session:
        assert session.scalars(select(CrawlFailure).where(CrawlFailure.reason == "screenshot")).all() == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_screenshot_is_a_stored_failure_not_a_failed_capture(settings: Settings, site: Site,
                                                                       run) -> None:
    site.set("/page", Page("<html><body>hello</body></html>"))
    assert run("collection", "off", "--screenshots", "no")[0] == 0
    env = {"LASTSEEN_SCREENSHOTS": "yes", "LASTSEEN_PROXY": "", "LASTSEEN_CHROMIUM_PATH": "/bin/false"}
    code, summary, stderr = crawl(settings, site, site.url("/page"), "-c", "broken", extra_env=env)
    assert code == 0 and summary["captured"] == 1 and summary["failed"] == {}, stderr[-3000:]
    with session_scope(open_database(settings.database_url)) as session:
        failures = session.scalars(select(CrawlFailure)).all()
        assert [(f.reason, f.url) for f in failures] == [("screenshot", site.url("/page"))]
        assert session.scalars(select(Capture)).one().url == site.url("/page")
    code, summary, _ = crawl(settings, site, site.url("/page"), "-c", "off", extra_env=env)
    assert code == 0 and not [r for r in stored_records(settings) if r[1] == "resource"]
    with session_scope(open_database(settings.database_url)) as session:
        assert len(session.scalars(select(CrawlFailure)).all()) == 1, "the collection said no: nothing tried"
