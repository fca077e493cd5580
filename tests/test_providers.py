"""Every provider, played by a local server: alive, each way it says gone, the traps, and kind from the URL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from archive.db import session_scope
from archive.models import Check, ProviderPause, Source, Video
from archive.providers import kind_of, read_page
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.watch.check import check_sources
from archive.workspace import Workspace
from tests.conftest import make_settings
from tests.servers.providers import PLAYS, ProviderServer
from tests.servers.site import Site

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

# One URL form of each provider's videos (every form is in test_kind_from_every_url_form).
URLS = {
    "youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "vimeo": "https://vimeo.com/76979871",
    "dailymotion": "https://www.dailymotion.com/video/x8abcd",
    "vk": "https://vk.com/video-22822305_456239018",
    "rutube": "https://rutube.ru/video/c3290e8a3a5f4e7d9e2cb2b0f2d6c5a1/",
    "ok": "https://ok.ru/video/20079905452",
    "telegram": "https://t.me/valleynews/123",
    "twitter": "https://x.com/valleynews/status/1580661436132757506",
    "tiktok": "https://www.tiktok.com/@valleynews/video/7106594312292453675",
    "facebook": "https://www.facebook.com/watch/?v=1085478998563811",
    "instagram": "https://www.instagram.com/p/CgmTqR8OtzF/",
}

EXPECTED = {
    ("youtube", "alive"): "ok", ("youtube", "removed"): "removed", ("youtube", "private"): "private",
    ("youtube", "terminated"): "account_terminated", ("youtube", "geo"): "geo_blocked",
    ("youtube", "age"): "age_restricted", ("youtube", "try_later"): "blocked", ("youtube", "bot"): "blocked",
    ("youtube", "captcha"): "blocked",
    ("vimeo", "alive"): "ok", ("vimeo", "gone"): "gone", ("vimeo", "private"): "private",
    ("vimeo", "other_domains"): "ok",
    ("dailymotion", "alive"): "ok", ("dailymotion", "removed"): "removed", ("dailymotion", "geo"): "geo_blocked",
    ("dailymotion", "private"): "private", ("dailymotion", "age"): "age_restricted",
    ("vk", "alive"): "ok", ("vk", "removed"): "removed", ("vk", "terminated"): "account_terminated",
    ("vk", "geo"): "geo_blocked", ("vk", "private"): "private", ("vk", "bot"): "blocked",
    ("vk", "deleted"): "removed", ("vk", "blocked"): "removed", ("vk", "community_blocked"): "account_terminated",
    ("vk", "region"): "geo_blocked", ("vk", "quoting"): "ok",
    ("rutube", "alive"): "ok", ("rutube", "gone"): "gone", ("rutube", "removed"): "removed",
    ("rutube", "hidden"): "private",
    ("ok", "alive"): "ok", ("ok", "gone"): "gone", ("ok", "terminated"): "account_terminated",
    ("ok", "private"): "private",
    ("telegram", "alive"): "ok", ("telegram", "gone"): "gone",
    ("twitter", "alive"): "ok", ("twitter", "deleted"): "gone", ("twitter", "suspended"): "account_terminated",
    ("twitter", "protected"): "private", ("twitter", "age"): "age_restricted",
    ("twitter", "author_gone"): "account_terminated",
    ("tiktok", "alive"): "ok", ("tiktok", "private"): "private", ("tiktok", "gone"): "gone",
    ("tiktok", "deleted"): "removed", ("tiktok", "withheld"): "geo_blocked", ("tiktok", "ip_blocked"): "blocked",
    ("tiktok", "captcha"): "blocked",
    ("facebook", "alive"): "ok", ("facebook", "gone"): "gone", ("facebook", "login"): "blocked",
    ("facebook", "throttled"): "blocked",
    ("instagram", "alive"): "ok", ("instagram", "gone"): "gone", ("instagram", "private"): "private",
    ("instagram", "login"): "blocked", ("instagram", "throttled"): "blocked",
    ("instagram", "login_redirect"): "blocked",
}


@pytest.fixture
def providers(site: Site) -> ProviderServer:
    return ProviderServer(site)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(make_settings(tmp_path, host_rate=1000, provider_rate=1000, check_concurrency=4))
    yield workspace
    workspace.close()


def add(ws: Workspace, *urls: str, kind: str | None = None) -> list[int]:
    with session_scope(ws.sessions) as session:
        result = add_sources(session, ensure_collection(session, "default"), [SourceEntry(u) for u in urls],
                             kind=kind)
        return [s.id for s in result.added]


def check(ws: Workspace, providers: ProviderServer, ids: list[int], at: datetime = T0) -> object:
    return check_sources(ws, ids, now=at, timeout=10.0, rng=random.Random(1), endpoints=providers.endpoints())


def last_check(ws: Workspace, source_id: int) -> Check | None:
    with session_scope(ws.sessions) as session:
        return session.scalar(select(Check).where(Check.source_id == source_id).order_by(Check.id.desc()).limit(1))


def test_every_state_played_is_tested() -> None:
    assert set(EXPECTED) == {(p, s) for p, states in PLAYS.items() for s in states}
    assert set(URLS) == set(PLAYS)


@pytest.mark.parametrize("provider, state", sorted(EXPECTED))
def test_what_each_provider_says(ws: Workspace, providers: ProviderServer, provider: str, state: str) -> None:
    providers.set(URLS[provider], state)
    [sid] = add(ws, URLS[provider])
    check(ws, providers, [sid])
    found = last_check(ws, sid)
    assert found is not None and found.outcome == EXPECTED[(provider, state)], found and found.detail
    assert found.detail.startswith(f"{provider}: ")
    if found.outcome == "blocked":
        with session_scope(ws.sessions) as session:
            pause = session.get(ProviderPause, provider)
            assert pause is not None and pause.until == T0 + timedelta(seconds=1800)


def test_could_not_tell_is_never_alive_nor_gone(ws: Workspace, providers: ProviderServer) -> None:
    """YouTube's rate limit ("try again later") beside an oEmbed 200, and its bot check, are blocked, with words."""
    providers.set(URLS["youtube"], "try_later")
    [sid] = add(ws, URLS["youtube"])
    check(ws, providers, [sid])
    found = last_check(ws, sid)
    assert found is not None and found.outcome == "blocked"
    assert "try again later" in found.detail and "paused until" in found.detail
    with session_scope(ws.sessions) as session:
        assert session.get(Source, sid).status not in ("alive", "vanished"), "could not tell: neither"


def test_age_gated_video_with_oembed_401_is_alive(ws: Workspace, providers: ProviderServer) -> None:
    providers.set(URLS["youtube"], "age")
    [sid] = add(ws, URLS["youtube"])
    check(ws, providers, [sid])
    with session_scope(ws.sessions) as session:
        assert session.get(Source, sid).status == "alive"
        assert session.scalar(select(Video.availability).where(Video.source_id == sid)) == "age_restricted"


def test_deleted_telegram_post_is_gone_not_changed(ws: Workspace, providers: ProviderServer) -> None:
    """The post's own page answers 200 with the channel's preview whether the post is there or not (the trap, as
    t.me does); only its embed widget says "Post not found", and that is what the check reads."""
    providers.set(URLS["telegram"], "alive")
    [sid] = add(ws, URLS["telegram"])
    check(ws, providers, [sid])
    providers.set(URLS["telegram"], "gone")
    own_page = requests.get(providers.site.url("/telegram/page?id=valleynews/123"), timeout=5)
    assert own_page.status_code == 200 and "Valley News" in own_page.text and "not found" not in own_page.text
    check(ws, providers, [sid], T0 + timedelta(days=1))
    found = last_check(ws, sid)
    assert found is not None and found.outcome == "gone" and "Post not found" in found.detail
    assert any("/telegram/page?id=valleynews/123&embed=1" in path for _, path, _ in providers.site.requests)
    check(ws, providers, [sid], T0 + timedelta(days=1, hours=1))
    with session_scope(ws.sessions) as session:
        source = session.get(Source, sid)
        assert (source.status, source.status_reason) == ("vanished", "gone")
        assert {c.outcome for c in session.scalars(select(Check).where(Check.source_id == sid))} == {"ok", "gone"}


def test_a_bot_check_pauses_the_provider(ws: Workspace, providers: ProviderServer) -> None:
    """The provider's other videos are not asked (no check stored) and are due when the pause ends."""
    providers.set(URLS["youtube"], "bot")
    other = "https://youtu.be/aaaaaaaaaaa"
    providers.set(other, "alive")
    [blocked] = add(ws, URLS["youtube"])
    check(ws, providers, [blocked])
    [waiting] = add(ws, other)
    asked = len(providers.site.requests)
    summary = check(ws, providers, [waiting], T0 + timedelta(minutes=5))
    assert len(providers.site.requests) == asked, "a paused provider is not asked"
    assert last_check(ws, waiting) is None and summary.paused == 1  # type: ignore[attr-defined]
    with session_scope(ws.sessions) as session:
        assert session.get(Source, waiting).next_check_at == T0 + timedelta(seconds=1800)
    check(ws, providers, [waiting], T0 + timedelta(seconds=1801))
    found = last_check(ws, waiting)
    assert found is not None and found.outcome == "ok"


@pytest.mark.parametrize("url, provider", [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "youtube"), ("https://youtu.be/dQw4w9WgXcQ", "youtube"),
    ("https://www.youtube.com/shorts/dQw4w9WgXcQ", "youtube"),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ", "youtube"),
    ("https://m.youtube.com/watch?v=dQw4w9WgXcQ&t=10", "youtube"),
    ("https://www.youtube.com/live/dQw4w9WgXcQ", "youtube"),
    ("https://vimeo.com/76979871", "vimeo"), ("https://player.vimeo.com/video/76979871?h=8272103f6e", "vimeo"),
    ("https://www.dailymotion.com/video/x8abcd", "dailymotion"), ("https://dai.ly/x8abcd", "dailymotion"),
    ("https://vk.com/video-22822305_456239018", "vk"), ("https://vk.com/clip-22822305_456239018", "vk"),
    ("https://vk.com/video_ext.php?oid=-22822305&id=456239018", "vk"),
    ("https://rutube.ru/video/c3290e8a3a5f4e7d9e2cb2b0f2d6c5a1/", "rutube"),
    ("https://rutube.ru/shorts/c3290e8a3a5f4e7d9e2cb2b0f2d6c5a1/", "rutube"),
    ("https://ok.ru/video/20079905452", "ok"), ("https://ok.ru/videoembed/20079905452", "ok"),
    ("https://t.me/valleynews/123", "telegram"), ("https://t.me/s/valleynews/123", "telegram"),
    ("https://x.com/valleynews/status/1580661436132757506", "twitter"),
    ("https://twitter.com/valleynews/status/1580661436132757506", "twitter"),
    ("https://www.tiktok.com/@valleynews/video/7106594312292453675", "tiktok"),
    ("https://vm.tiktok.com/ZMabcdef/", "tiktok"),
    ("https://www.facebook.com/watch/?v=1085478998563811", "facebook"), ("https://fb.watch/abcDEF123/", "facebook"),
    ("https://www.facebook.com/valleynews/videos/1085478998563811/", "facebook"),
    ("https://www.instagram.com/p/CgmTqR8OtzF/", "instagram"),
    ("https://www.instagram.com/reel/CgmTqR8OtzF/", "instagram"),
])
def test_kind_from_every_url_form(ws: Workspace, url: str, provider: str) -> None:
    assert kind_of(url) == "video"
    [sid] = add(ws, url)
    with session_scope(ws.sessions) as session:
        assert session.get(Source, sid).kind == "video"
        assert session.scalar(select(Video.provider).where(Video.source_id == sid)) == provider


def test_kind_page_and_the_override(ws: Workspace) -> None:
    assert kind_of("https://news.example.com/2026/flood") == "page"
    assert kind_of("https://t.me/valleynews") == "page"  # a channel, not a post
    page, forced = add(ws, "https://news.example.com/2026/flood", "https://youtu.be/dQw4w9WgXcQ", kind="page")
    [video] = add(ws, "https://news.example.com/clip.mp4")
    with session_scope(ws.sessions) as session:
        assert [session.get(Source, i).kind for i in (page, forced, video)] == ["page", "page", "video"]
        assert session.scalar(select(Video).where(Video.source_id == forced)) is None


@pytest.mark.parametrize("provider, body", [
    ("youtube", "<html><body>Before you continue to YouTube</body></html>"),
    ("dailymotion", "<html>not json</html>"),
    ("vk", "<html><body><script>var playerParams = {};</script><!>Видео временно недоступно</body></html>"),
    ("telegram", '<div class="tgme_widget_message_error">Something unusual</div>'),
    ("twitter", "{}"),
    ("direct", "anything"),
])
def test_pages_that_say_nothing(provider: str, body: str) -> None:
    assert read_page(provider, 200, body) is None


def test_status_shows_the_providers_last_verdict(run, settings, providers: ProviderServer) -> None:  # noqa: ANN001
    providers.set(URLS["telegram"], "gone")
    code, _, _ = run("add", URLS["telegram"])
    workspace = Workspace(settings.replace(provider_rate=1000.0))
    try:
        with session_scope(workspace.sessions) as session:
            [sid] = session.scalars(select(Source.id))
        check(workspace, providers, [sid])
    finally:
        workspace.close()
    code, out, _ = run("status", URLS["telegram"])
    assert code == 0 and "[default, video]" in out
    assert "provider said" in out and "gone: telegram: video page: Telegram embed: Post not found" in out
    assert providers.site.url("/telegram/page?id=valleynews/123") in out


def test_x_syndication_token_is_the_embed_widgets() -> None:
    """The token X's syndication endpoint is asked with is the one its widget (and yt-dlp) computes."""
    from yt_dlp.extractor.twitter import TwitterIE

    from archive.providers import twitter

    for tweet in ("20", "1580661436132757506", "1234567890123456789", "9223372036854775807"):
        assert twitter.token(tweet) == TwitterIE()._generate_syndication_token(tweet)


@pytest.mark.parametrize("reason, outcome", [("NsfwLoggedOut", "age_restricted"),
                                             ("NsfwViewerHasNoStatedAge", "age_restricted"),
                                             ("Protected", "private"), ("Suspended", "account_terminated")])
def test_x_unavailable_reasons(reason: str, outcome: str) -> None:
    found = read_page("twitter", 200, f'{{"__typename": "TweetUnavailable", "reason": "{reason}"}}')
    assert found is not None and found.outcome == outcome


@pytest.mark.parametrize("message, outcome", [
    ("Это видео удалено", "removed"), ("Видеозапись была удалена.", "removed"),
    ("Видеозапись заблокирована", "removed"), ("Это видео недоступно в вашем регионе", "geo_blocked"),
])
def test_vk_player_messages(message: str, outcome: str) -> None:
    """video_ext.php says why in its #video_ext_msg; yt-dlp raises that text as its error."""
    from archive.status import classify_ytdlp_error

    page = f'<html><body><div id="video_ext_msg">{message}</div></body></html>'
    found = read_page("vk", 200, page)
    assert found is not None and found.outcome == outcome
    said = classify_ytdlp_error(f"ERROR: [vk] -22822305_456239018: {message}")
    assert said is not None and said.outcome == outcome


@pytest.mark.parametrize("message", ["[twitter] 1580661436132757506: Suspended",
                                     "[twitter] 1580661436132757506: Twitter API says: This Post is from a "
                                     "suspended account", "[twitter] 1580661436132757506: Twitter API says: This "
                                     "Post is from an account that no longer exists"])
def test_x_account_gone_in_ytdlp_words(message: str) -> None:
    """yt-dlp's GraphQL path raises TweetUnavailable's reason, or the tombstone's words."""
    from archive.status import classify_ytdlp_error

    found = classify_ytdlp_error(f"ERROR: {message}")
    assert found is not None and found.outcome == "account_terminated"


@pytest.mark.parametrize("url, given", [
    ("https://vimeo.com/76979871", "https://player.vimeo.com/video/76979871"),
    ("https://vimeo.com/76979871/8272103f6e", "https://player.vimeo.com/video/76979871?h=8272103f6e"),
    ("https://player.vimeo.com/video/76979871?h=8272103f6e", "https://player.vimeo.com/video/76979871?h=8272103f6e"),
    ("https://vimeo.com/channels/staffpicks/76979871", "https://player.vimeo.com/video/76979871"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://news.example.com/clip.mp4", "https://news.example.com/clip.mp4"),
])
def test_vimeo_is_handed_to_ytdlp_as_its_player(url: str, given: str) -> None:
    """yt-dlp asks vimeo.com/ID's API only logged in; the player page it reads anonymously (the e2e videos test
    keeps a Vimeo video's media that way)."""
    from archive.providers import ytdlp_url

    assert ytdlp_url(url) == given


YT_A, YT_B, YT_C = ("https://www.youtube.com/watch?v=RateLimited", "https://www.youtube.com/watch?v=PlaysFine01",
                    "https://www.youtube.com/watch?v=PlaysFine02")


def check_in_order(ws: Workspace, providers: ProviderServer, ids: list[int], at: datetime) -> object:
    """One worker, so the sources are asked in the order given."""
    return check_sources(ws, ids, now=at, timeout=10.0, rng=random.Random(1), endpoints=providers.endpoints(),
                         concurrency=1)


def test_a_pause_that_ended_probes_the_provider_first(ws: Workspace, providers: ProviderServer) -> None:
    """After a pause, the video rate-limited for good is not what decides: the source alive most recently is
    asked first; it answers, so the pause is over and the rate-limited video is blocked alone."""
    ids = add(ws, YT_A, YT_B, YT_C)
    for url in (YT_A, YT_B, YT_C):
        providers.set(url, "alive")
    check_in_order(ws, providers, ids, T0)
    for url in (YT_A, YT_B, YT_C):  # the provider walls everything: the probe is blocked too, so it pauses
        providers.set(url, "bot")
    check_in_order(ws, providers, ids[:1], T0 + timedelta(days=1))
    with session_scope(ws.sessions) as session:
        assert session.get(ProviderPause, "youtube").until == T0 + timedelta(days=1, seconds=1800)
    providers.set(YT_A, "try_later")  # for good
    providers.set(YT_B, "alive")
    providers.set(YT_C, "alive")
    summary = check_in_order(ws, providers, ids, T0 + timedelta(days=1, seconds=1801))
    assert summary.paused == 0, "the provider answers: nothing waits"  # type: ignore[attr-defined]
    assert [last_check(ws, sid).outcome for sid in ids] == ["blocked", "ok", "ok"]  # type: ignore[union-attr]
    assert "blocked alone" in last_check(ws, ids[0]).detail  # type: ignore[union-attr]
    with session_scope(ws.sessions) as session:
        assert session.get(ProviderPause, "youtube") is None


def test_a_video_walled_alone_pauses_nothing(ws: Workspace, providers: ProviderServer) -> None:
    """One video shows a bot wall while the others play: it is blocked alone, and the others are checked."""
    walled, playing = add(ws, YT_A, YT_B)
    providers.set(YT_A, "alive")
    providers.set(YT_B, "alive")
    check_in_order(ws, providers, [walled, playing], T0)
    providers.set(YT_A, "bot")
    check_in_order(ws, providers, [walled], T0 + timedelta(days=1))
    found = last_check(ws, walled)
    assert found is not None and found.outcome == "blocked" and "blocked alone" in found.detail
    assert "paused" not in found.detail
    summary = check_in_order(ws, providers, [playing], T0 + timedelta(days=1, minutes=1))
    assert summary.paused == 0  # type: ignore[attr-defined]
    assert last_check(ws, playing).checked_at == T0 + timedelta(days=1, minutes=1)  # type: ignore[union-attr]
    with session_scope(ws.sessions) as session:
        assert session.get(ProviderPause, "youtube") is None
