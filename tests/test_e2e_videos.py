"""Issue #16, end to end: videos are watched as videos and kept as videos.

A collection mixing news pages (one embeds a video), direct links to YouTube, Vimeo, Dailymotion and Rutube videos, a
Telegram post and a media file goes through the real commands, `lastseen add -> crawl -> check -> (content
vanishes) -> check -> alerts`, as a user runs them. The only way out is tests.servers.internet, a proxy
playing the providers at their real URLs (what lastseen asks them, what yt-dlp downloads, their traps) and
the news site; its test CA is trusted through REQUESTS_CA_BUNDLE, as behind any TLS-inspecting proxy.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.models import Source
from archive.storage import open_storage
from tests.servers.internet import Handler, Internet
from tests.servers.providers import ProviderServer
from tests.servers.receiver import Receiver
from tests.servers.site import Page, Site

NEWS = "https://news.example.org"
FLOOD, DAM, BRIDGE = f"{NEWS}/2026/flood", f"{NEWS}/2026/dam", f"{NEWS}/2026/bridge"
RIVER = f"{NEWS}/media/river.mp4"
YT_REMOVED = "https://www.youtube.com/watch?v=RmvdFlood01"
YT_AGE = "https://www.youtube.com/watch?v=AgeGated002"
YT_LATER = "https://www.youtube.com/watch?v=TryLater003"
VIMEO = "https://vimeo.com/76979871"
DAILYMOTION = "https://www.dailymotion.com/video/x8abcd"
RUTUBE = "https://rutube.ru/video/c3290e8a3a5f4e7d9e2cb2b0f2d6c5a1/"
EMBEDDED = "https://www.dailymotion.com/video/x8emb01"  # the video the flood page embeds
TELEGRAM = "https://t.me/valleynews/123"
TELEGRAM_MEDIA = "https://cdn4.telesco.pe/file/flood.mp4"


def _mp4(seed: int, size: int = 3000) -> bytes:
    """A small file that starts as an MP4 does, different for each seed."""
    return b"\x00\x00\x00\x18ftypmp42" + bytes((seed * 7 + i) % 256 for i in range(size))


def _dm_media(xid: str) -> str:
    return f"https://proxy-01.dmcdn.net/sec/H264-640x360/video/{xid}.mp4"


def _vimeo_media(video_id: str) -> str:
    return f"https://vod-progressive.akamaized.net/exp=1893456000~hmac=0f1e/vimeo-prod-skyfire/{video_id}/360p.mp4"


def _rutube_media(video_id: str) -> str:
    return f"https://river-2-201.rutube.ru/video/{video_id}/360p.mp4"


# What each video's media is, as the servers send it.
MEDIA = {DAILYMOTION: _mp4(1), EMBEDDED: _mp4(2), TELEGRAM: _mp4(3), RIVER: _mp4(4), VIMEO: _mp4(5),
         RUTUBE: _mp4(6)}
SERVED = {_dm_media("x8abcd"): MEDIA[DAILYMOTION], _dm_media("x8emb01"): MEDIA[EMBEDDED],
          TELEGRAM_MEDIA: MEDIA[TELEGRAM], _vimeo_media("76979871"): MEDIA[VIMEO],
          _rutube_media("c3290e8a3a5f4e7d9e2cb2b0f2d6c5a1"): MEDIA[RUTUBE]}

# After the second check: the sources that vanished and the reason each must be flagged with.
VANISHED = {YT_REMOVED: "removed", VIMEO: "private", TELEGRAM: "gone", EMBEDDED: "removed", DAM: "gone",
            BRIDGE: "soft_404"}
# ...and those still there: age-gated is alive, a rate limit could not tell (unreachable: neither alive nor gone).
STILL_THERE = {FLOOD: ("alive", None), RIVER: ("alive", None), DAILYMOTION: ("alive", None),
               RUTUBE: ("alive", None),
               YT_AGE: ("alive", "age_restricted"), YT_LATER: ("unreachable", "blocked")}


def _article(title: str, body: str) -> Page:
    return Page(f"<!DOCTYPE html><html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
                f"<p>{body} The valley council met on Tuesday to discuss what the water left behind, and the "
                f"farmers who lost their harvest asked for help before the winter comes.</p></article></body></html>")


def news_site(site: Site) -> None:
    """Three articles (one embeds a Dailymotion video), a video file, and a soft-404 answer for anything else."""
    site.set("/2026/flood", _article("Flood in the valley", "The river rose two metres overnight. "
                                     '<iframe src="https://www.dailymotion.com/embed/video/x8emb01" width="640" '
                                     'height="360" allowfullscreen></iframe>'))
    site.set("/2026/dam", _article("The dam held", "Engineers say the old dam held, barely."))
    site.set("/2026/bridge", _article("Bridge closed", "The north bridge is closed until it is inspected."))
    site.set("/media/river.mp4", Page(MEDIA[RIVER], content_type="video/mp4"))
    site.fallback = _article("Page not found", "Sorry, we could not find the page you were looking for.")


def media_files(method: str, url: str, body: bytes) -> Page | None:
    """The providers' media files (Dailymotion's, Vimeo's, Rutube's and Telegram's CDNs)."""
    data = SERVED.get(url.split("?", 1)[0])
    return Page(data, content_type="video/mp4") if data is not None else None


def dailymotion_api(providers: ProviderServer) -> Handler:
    """What yt-dlp's Dailymotion extractor asks: an API token, the media's xid (GraphQL), then the player
    metadata, which for a playable video lists its files (lastseen's checks read the same metadata)."""

    def answer(method: str, url: str, body: bytes) -> Page | None:
        if url == "https://graphql.api.dailymotion.com/oauth/token":
            return Page(json.dumps({"access_token": "t0ken", "token_type": "Bearer", "expires_in": 36000}),
                        content_type="application/json")
        if url == "https://graphql.api.dailymotion.com/":
            xid = re.search(r'xid: "(\w+)"', json.loads(body)["query"])
            return Page(json.dumps({"data": {"media": {"xid": xid.group(1) if xid else ""}}}),
                        content_type="application/json")
        found = re.fullmatch(r"https://www\.dailymotion\.com/player/metadata/video/(\w+)(?:\?.*)?", url)
        if found and providers.states.get(("dailymotion", found.group(1))) == "alive":
            xid = found.group(1)
            return Page(json.dumps({"id": xid, "title": "Flood", "duration": 12, "owner": {"screenname": "valley"},
                                    "qualities": {"auto": [{"type": "video/mp4", "url": _dm_media(xid)}]}}),
                        content_type="application/json")
        return None

    return answer


def vimeo_player(providers: ProviderServer) -> Handler:
    """Vimeo as yt-dlp meets it without an account: the video's page (vimeo.com/ID) is an app with no page config,
    so yt-dlp turns to Vimeo's API, which it asks only logged in; the player (player.vimeo.com/video/ID) carries
    the config in window.playerConfig, whose request.files.progressive lists the MP4 files. A video that is not
    alive is left to the providers' pages."""

    def answer(method: str, url: str, body: bytes) -> Page | None:
        found = re.fullmatch(r"https://(vimeo\.com|player\.vimeo\.com/video)/(\d+)(?:\?.*)?", url)
        if found is None or providers.states.get(("vimeo", found.group(2))) != "alive":
            return None
        video_id = found.group(2)
        if found.group(1) == "vimeo.com":
            return Page("<!DOCTYPE html><html><head><title>Flood in the valley on Vimeo</title><meta name="
                        '"description" content="The river at noon"></head><body><div id="__next"></div><script '
                        'id="__NEXT_DATA__" type="application/json">{"props":{}}</script></body></html>')
        config = {"video": {"id": int(video_id), "title": "Flood in the valley", "duration": 12,
                            "owner": {"name": "valley", "url": "https://vimeo.com/valley"}},
                  "request": {"files": {"progressive": [{"url": _vimeo_media(video_id), "quality": "360p",
                                                         "width": 640, "height": 360, "fps": 25}]}}}
        return Page("<!DOCTYPE html><html><head><title>Flood in the valley from valley on Vimeo</title></head>"
                    f"<body><div class=\"player\"></div><script>window.playerConfig = {json.dumps(config)};"
                    "</script></body></html>")

    return answer


def rutube_options(providers: ProviderServer) -> Handler:
    """Rutube's play options, which yt-dlp's Rutube extractor asks after the video API (played by the providers):
    for a playable video, video_balancer lists its files (here one MP4)."""

    def answer(method: str, url: str, body: bytes) -> Page | None:
        found = re.fullmatch(r"https://rutube\.ru/api/play/options/([0-9a-f]{32})/(?:\?.*)?", url)
        if found is None or providers.states.get(("rutube", found.group(1))) != "alive":
            return None
        return Page(json.dumps({"video_balancer": {"default": _rutube_media(found.group(1))}}),
                    content_type="application/json")

    return answer


@pytest.fixture
def internet(tmp_path: Path, site: Site) -> Iterator[tuple[Internet, ProviderServer]]:
    """The internet as these tests know it: the providers, their media, and the news site."""
    folder = tmp_path / "internet"
    folder.mkdir()
    world = Internet(folder).start()
    providers = ProviderServer(site)
    news_site(site)
    world.hosts["news.example.org"] = site
    world.handlers += [media_files, dailymotion_api(providers), vimeo_player(providers),
                       rutube_options(providers), providers.answer]
    for url in (YT_REMOVED, YT_AGE, YT_LATER, VIMEO, DAILYMOTION, RUTUBE, EMBEDDED, TELEGRAM):
        providers.set(url, "alive")
    yield world, providers
    world.stop()


def lastseen(settings: Settings, world: Internet, receiver: Receiver, *args: str) -> subprocess.CompletedProcess[str]:
    """`lastseen ARGS` as a user runs it: this checkout's code, the internet through the proxy, alerts to the
    receiver; one definitive check confirms a vanishing (LASTSEEN_CONFIRM_CHECKS=1)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "PYTHONPATH": os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parents[1]),
           "LASTSEEN_DATA_DIR": str(settings.data_dir), "LASTSEEN_DATABASE_URL": settings.database_url,
           "LASTSEEN_STORAGE_URL": settings.storage_url, "LASTSEEN_PROXY": world.url,
           "REQUESTS_CA_BUNDLE": str(world.ca.pem), "LASTSEEN_ALLOW_NETWORKS": "127.0.0.1/32",
           "LASTSEEN_WEBHOOK_URL": receiver.url(), "LASTSEEN_CONFIRM_CHECKS": "1", "LASTSEEN_SCREENSHOTS": "no",
           "LASTSEEN_CAPTURE": "http",
           "LASTSEEN_HOST_RATE": "100", "LASTSEEN_PROVIDER_RATE": "100", "LASTSEEN_CHECK_TIMEOUT": "10",
           "LASTSEEN_DOWNLOAD_TIMEOUT": "20", "LASTSEEN_DESCRIBE_WORKERS": "1", "LASTSEEN_CRAWL_RETRIES": "0"}
    done = subprocess.run([str(Path(sys.executable).with_name("lastseen")), *args], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, f"lastseen {' '.join(args)}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def statuses(settings: Settings) -> dict[str, tuple[str, str | None]]:
    """Each source's URL -> (status, reason)."""
    sessions = open_database(settings.database_url)
    try:
        with session_scope(sessions) as session:
            return {s.url: (s.status, s.status_reason) for s in session.scalars(select(Source))}
    finally:
        sessions.kw["bind"].dispose()


def media_records(settings: Settings) -> dict[str, list[tuple[str, bytes]]]:
    """Target URI -> (record type, payload) of every response and resource record in the stored WARC files."""
    storage = open_storage(settings)
    found: dict[str, list[tuple[str, bytes]]] = {}
    for key in storage.keys("warc/"):
        if key.endswith(".warc.gz"):
            for record in ArchiveIterator(io.BytesIO(storage.read(key)), check_digests=True):
                if record.rec_type in ("response", "resource"):
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    found.setdefault(uri, []).append((record.rec_type, record.content_stream().read()))
    return found


def record_target(settings: Settings, media: dict) -> str:
    """The WARC-Target-URI of the record `status` says holds a video's media (one ranged read, as replay does)."""
    storage = open_storage(settings)
    data = storage.read(storage.key_of(media["warc_uri"]), media["warc_offset"], media["warc_length"])
    record = next(iter(ArchiveIterator(io.BytesIO(data), check_digests=True)))
    return record.rec_headers.get_header("WARC-Target-URI")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_vanished_videos_are_flagged_with_their_reason_and_kept_in_the_warc(
        settings: Settings, internet: tuple[Internet, ProviderServer], receiver: Receiver) -> None:
    world, providers = internet
    run = functools.partial(lastseen, settings, world, receiver)
    run("add", FLOOD, DAM, BRIDGE, RIVER, YT_REMOVED, YT_AGE, YT_LATER, VIMEO, DAILYMOTION, RUTUBE,
        TELEGRAM)
    crawled = json.loads(run("crawl", "--json").stdout)
    assert crawled["captured"] == 12, crawled  # the eleven sources and the video the flood page embeds
    assert crawled["failed"] == {"media_error": 3}, "YouTube's media are not played here"

    first = json.loads(run("check", "--all", "--json").stdout)
    assert statuses(settings) == {url: ("alive", None) for url in [*VANISHED, *STILL_THERE]}, first

    # Between the checks: content vanishes, two videos become hard to see but are still there.
    for url, state in ((YT_REMOVED, "removed"), (VIMEO, "private"), (TELEGRAM, "gone"), (EMBEDDED, "removed"),
                       (YT_AGE, "age"), (YT_LATER, "try_later")):
        providers.set(url, state)
    world.hosts["news.example.org"].set("/2026/dam", Page("<html><body>Not here</body></html>", status=404))
    del world.hosts["news.example.org"].routes["/2026/bridge"]  # the site's soft 404 answers it now

    second = json.loads(run("check", "--all", "--json").stdout)
    now = statuses(settings)
    assert {url: now[url] for url in VANISHED} == {url: ("vanished", why) for url, why in VANISHED.items()}, second
    assert {url: now[url] for url in STILL_THERE} == STILL_THERE, second

    # Alerts: one per vanished source, with its provider's reason; none for the others, none twice.
    run("alerts")
    alerts = {alert["url"]: (alert["kind"], alert["reason"]) for alert in receiver.alerts}
    assert len(receiver.alerts) == len(VANISHED)
    assert alerts == {url: ("vanished", why) for url, why in VANISHED.items()}
    run("alerts")
    assert len(receiver.alerts) == len(VANISHED), "no alert is sent twice"

    # Media: each video's file in the WARC files, found by warcio where `status` says, with its SHA-256. A direct
    # link's response record is the media, under its URL; a provider's download is filed under the media's own
    # URL, so the video page's URL stays the page in replay.
    records = media_records(settings)
    for url, data in MEDIA.items():
        [status] = json.loads(run("status", url, "--json").stdout)["sources"]
        media = status["video"]["media"]
        assert media is not None, (url, status["video"])
        target = record_target(settings, media)
        assert (target == url) == (media["record_type"] == "response"), (url, target, media["record_type"])
        kept = [body for kind, body in records.get(target, []) if kind == media["record_type"]]
        assert [hashlib.sha256(body).hexdigest() for body in kept] == [hashlib.sha256(data).hexdigest()]
        assert media["sha256"] == hashlib.sha256(data).hexdigest() and media["size"] == len(data)
        assert "resource" not in [kind for kind, _ in records.get(url, [])], "no download under the page's URL"
    # No media for YouTube's videos (its player is not played here): only their pages' records.
    for url in (YT_REMOVED, YT_AGE, YT_LATER):
        assert [kind for kind, _ in records[url]] == ["response"]

    # The Telegram trap: the post's own page answered 200 all along; its embed widget said it was deleted.
    [telegram] = json.loads(run("status", TELEGRAM, "--json").stdout)["sources"]
    assert [c["http_status"] for c in telegram["captures"] if c["record_type"] == "response"] == [200]
    assert telegram["verdict"]["words"] == "telegram: video page: Telegram embed: Post not found"
    assert telegram["verdict"]["page"] == f"{TELEGRAM}?embed=1&mode=tme"
