"""A video's availability: one writer (archive.sources.state.note_availability), one vocabulary
(archive.vocab.VideoAvailability), whether the crawl's metadata or a check says it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from archive.config import Settings
from archive.db import session_scope
from archive.models import Video
from archive.providers.info import fetch_oembed
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.sources.state import note_availability
from archive.status import Outcome
from archive.vocab import VIDEO_VERDICTS, VideoAvailability
from archive.watch.check import VideoEndpoints, check_sources
from archive.workspace import Workspace
from tests.conftest import TEST_ALLOW_NETWORKS
from tests.servers.site import Page, Site

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    workspace = Workspace(settings)
    yield workspace
    workspace.close()


def _video(ws: Workspace, url: str, provider: str, availability: str | None) -> int:
    with session_scope(ws.sessions) as session:
        source = add_sources(session, ensure_collection(session, "v"), [SourceEntry(url)], kind="video").added[0]
        video = session.scalar(select(Video).where(Video.source_id == source.id))
        if video is None:  # a URL no provider module recognises
            video = Video(source_id=source.id, provider=provider, video_id=url, canonical_url=url)
            session.add(video)
        assert video.provider == provider
        video.availability = availability
        return source.id


def _availability(ws: Workspace, source_id: int) -> str | None:
    with session_scope(ws.sessions) as session:
        return session.scalar(select(Video.availability).where(Video.source_id == source_id))


def test_a_vimeo_oembed_404_is_no_verdict_in_the_crawl_nor_in_the_check(ws: Workspace, site: Site) -> None:
    """Vimeo's oEmbed answers 404 for videos restricted to some embedding domains: neither the crawl's metadata
    nor the check may call such a video gone (another provider's 404 is gone, in both)."""
    site.set("/oembed", Page("Not Found", status=404, content_type="text/plain"))
    site.set("/player/1", Page("<html><head><title>A clip</title></head><body>a clip</body></html>"))
    endpoints = {"vimeo": site.url("/oembed"), "dailymotion": site.url("/oembed")}
    vimeo = _video(ws, "https://vimeo.com/1", "vimeo", "public")
    answer = fetch_oembed("vimeo", "https://vimeo.com/1", timeout=5, endpoints=endpoints,
                          allow_networks=(TEST_ALLOW_NETWORKS,))
    assert (answer.info, answer.availability) == (None, None), "the crawl's answer for Vimeo's 404"
    with session_scope(ws.sessions) as session:
        note_availability(session, vimeo, answer.availability)
    assert _availability(ws, vimeo) == "public"
    check_sources(ws, [vimeo], now=T0, timeout=5, rng=random.Random(7),
                  endpoints=VideoEndpoints(oembed=endpoints, pages={"vimeo": site.url("/player/{id}")}))
    assert _availability(ws, vimeo) == "public", "the check says the same"
    other = _video(ws, "https://www.dailymotion.com/video/x2", "dailymotion", "public")
    gone = fetch_oembed("dailymotion", "https://www.dailymotion.com/video/x2", timeout=5, endpoints=endpoints,
                        allow_networks=(TEST_ALLOW_NETWORKS,))
    with session_scope(ws.sessions) as session:
        note_availability(session, other, gone.availability)
    assert _availability(ws, other) == "gone"


@pytest.mark.parametrize(("before", "said", "after"), [
    (None, "unlisted", "unlisted"),  # yt-dlp's own word for a video that plays
    ("public", "removed", "removed"),  # a verdict replaces it
    ("removed", "ok", "public"),  # a plain ok after a verdict: public again
    ("unlisted", "ok", "unlisted"),  # a plain ok says less than yt-dlp's word
    ("public", "blocked", "public"),  # a rate limit says nothing of the video
    ("public", "timeout", "public"),
    ("public", "soft_404", "public"),  # a page's outcome, not a video's
    ("public", "not-a-word", "public"),
    ("private", None, "private"),
])
def test_one_writer_keeps_one_vocabulary(ws: Workspace, before: str | None, said: str | None,
                                         after: str | None) -> None:
    source_id = _video(ws, "https://www.youtube.com/watch/abc", "youtube", before)
    with session_scope(ws.sessions) as session:
        note_availability(session, source_id, said)
    assert _availability(ws, source_id) == after


def test_every_verdict_is_a_check_outcome() -> None:
    """A check's verdict is stored as it is named: the verdicts are outcomes of archive.status, word for word."""
    assert {verdict.value for verdict in VIDEO_VERDICTS} <= {outcome.value for outcome in Outcome}
    assert VIDEO_VERDICTS < set(VideoAvailability) and VideoAvailability.PUBLIC not in VIDEO_VERDICTS
