"""Check outcomes (HTTP, video pages, oEmbed, yt-dlp messages) and the status state machine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from archive.config import Settings, load_settings
from archive.errors import UsageError
from archive.models import SOURCE_STATUSES
from archive.providers import read_page
from archive.status import (
    ALIVE,
    DEFINITIVE,
    TRANSIENT,
    Classification,
    Outcome,
    OutcomeClass,
    ProbeAnswer,
    SourceState,
    Transition,
    WatchPolicy,
    classify_http,
    classify_oembed,
    classify_ytdlp_error,
    decide,
    make_fingerprint,
    outcome_class,
    registrable_domain,
)
from archive.vocab import SourceStatus, TransitionKind

URL = "https://news.example.com/politics/2024/flood-in-the-city"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def http(status: int | None = 200, *, url: str = URL, final_url: str | None = None, chain: list[str] | None = None,
         body: str | None = None, error: str | None = None, probe: ProbeAnswer | None = None) -> Classification:
    return classify_http(url=url, status=status, final_url=final_url, redirect_chain=chain or [],
                         body_text=body, error=error, probe=probe)


def page(title: str, h1: str = "", text: str = "") -> str:
    heading = f"<h1>{h1}</h1>" if h1 else ""
    return (f"<!doctype html><html><head><title>{title}</title><script>var x = 'page not found';</script></head>"
            f"<body><nav>Home World Politics Sport</nav>{heading}<p>{text}</p><footer>(c) News</footer></body></html>")


ARTICLE_TEXT = ("The river broke its banks on Tuesday night and flooded the lower town. "
                "Residents were evacuated to the school, the mayor said, and the water is still rising. ") * 5


# --------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------

def test_vocabulary_is_the_agreed_strings() -> None:
    assert {o.value for o in DEFINITIVE} == {"gone", "removed", "private", "account_terminated", "geo_blocked",
                                             "soft_404", "redirected_away"}
    assert {o.value for o in TRANSIENT} == {"dns_error", "connection_error", "timeout", "server_error", "blocked"}
    assert {o.value for o in ALIVE} == {"ok", "changed", "age_restricted"}
    assert DEFINITIVE | TRANSIENT | ALIVE == set(Outcome)
    agreed = ("new", "alive", "unreachable", "vanished", "returned", "geo_blocked")  # the strings the database keeps
    assert tuple(s.value for s in SourceStatus) == agreed and SOURCE_STATUSES == agreed
    assert {k.value for k in TransitionKind} == {"vanished", "returned", "changed", "unreachable", "alive"}
    assert outcome_class("gone") is OutcomeClass.DEFINITIVE
    assert outcome_class("blocked") is OutcomeClass.TRANSIENT
    assert outcome_class("age_restricted") is OutcomeClass.ALIVE
    assert Outcome.SOFT_404 == "soft_404"  # StrEnum: stores as the plain string
    with pytest.raises(ValueError):
        outcome_class("vanished")


# --------------------------------------------------------------------------------------------------
# classify_http: statuses and errors
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, error, expected", [
    (200, None, "ok"),
    (204, None, "ok"),
    (404, None, "gone"),
    (410, None, "gone"),
    (451, None, "geo_blocked"),
    (401, None, "private"),
    (403, None, "blocked"),
    (429, None, "blocked"),
    (408, None, "timeout"),
    (400, None, "blocked"),
    (999, None, "blocked"),
    (500, None, "server_error"),
    (502, None, "server_error"),
    (503, None, "server_error"),
    (522, None, "server_error"),
    (None, "dns", "dns_error"),
    (None, "connect", "connection_error"),
    (None, "timeout", "timeout"),
    (None, "tls", "connection_error"),
    (None, "too_many_redirects", "server_error"),
    (None, None, "connection_error"),
])
def test_http_status_and_error_rules(status: int | None, error: str | None, expected: str) -> None:
    result = http(status, error=error, body=page("Flood in the city", "Flood in the city", ARTICLE_TEXT))
    assert result.outcome == expected
    assert result.detail


def test_404_body_does_not_matter() -> None:
    assert http(404, body=page("Flood in the city", "Flood", ARTICLE_TEXT)).outcome == "gone"


# --------------------------------------------------------------------------------------------------
# classify_http: redirects
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, final_url, expected", [
    # the same resource, written differently: ok
    ("http://news.example.com/a/story-1", "https://news.example.com/a/story-1", "ok"),
    ("https://news.example.com/a/story-1", "https://www.news.example.com/a/story-1", "ok"),
    ("https://www.news.example.com/a/story-1", "https://news.example.com/a/story-1", "ok"),
    ("https://news.example.com/a/story-1", "https://news.example.com/a/story-1/", "ok"),
    ("https://news.example.com/a/story-1/", "https://news.example.com/a/story-1", "ok"),
    ("https://news.example.com/a/story-1?utm_source=tw", "https://news.example.com/a/story-1", "ok"),
    ("https://news.example.com/a/story-1", "https://news.example.com/a/story-1?ref=home", "ok"),
    # moved within the site (a slug change): ok
    ("https://news.example.com/a/123-old-title", "https://news.example.com/a/123-new-title", "ok"),
    # the site moved to another domain, same path: ok
    ("https://twitter.com/user/status/1", "https://x.com/user/status/1", "ok"),
    ("https://oldnews.ru/politics/2024/story", "https://newnews.com/politics/2024/story", "ok"),
    # shorteners and one site's own domains
    ("https://youtu.be/dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=youtu.be", "ok"),
    ("https://bit.ly/3xYzAbC", "https://news.example.com/a/story-1", "ok"),
    ("https://t.co/AbCdEf", "https://news.example.com/a/story-1", "ok"),
    # home page
    ("https://news.example.com/a/story-1", "https://news.example.com/", "redirected_away"),
    ("https://news.example.com/a/story-1", "https://news.example.com", "redirected_away"),
    ("https://news.example.com/a/story-1", "http://www.news.example.com/", "redirected_away"),
    ("https://news.example.com/a/story-1", "https://news.example.com/en/", "redirected_away"),
    ("https://news.example.com/a/story-1", "https://news.example.com/index.php", "redirected_away"),
    ("https://news.example.com/index.php?newsid=123", "https://news.example.com/index.php", "redirected_away"),
    ("https://blog.example.com/?p=123", "https://blog.example.com/", "redirected_away"),
    # another registrable domain
    ("https://news.example.com/a/story-1", "https://www.other-site.org/landing", "redirected_away"),
    ("https://news.example.co.uk/a/story-1", "https://example.com/a/other", "redirected_away"),
    ("https://bit.ly/3xYzAbC", "https://news.example.com/", "redirected_away"),
    # a not-found page, a login page, a consent wall
    ("https://news.example.com/a/story-1", "https://news.example.com/404.html", "soft_404"),
    ("https://news.example.com/a/story-1", "https://news.example.com/errors/404", "soft_404"),
    ("https://news.example.com/a/story-1", "https://news.example.com/page-not-found/", "soft_404"),
    ("https://news.example.com/a/story-1", "https://news.example.com/user/login?next=/a/story-1", "private"),
    ("https://www.youtube.com/watch?v=x", "https://accounts.google.com/ServiceLogin?continue=x", "private"),
    ("https://www.youtube.com/watch?v=x", "https://consent.youtube.com/m?continue=x", "blocked"),
])
def test_redirects(url: str, final_url: str, expected: str) -> None:
    chain = [url, final_url]
    body = page("Story", "Story", ARTICLE_TEXT)
    assert http(200, url=url, final_url=final_url, chain=chain, body=body).outcome == expected


def test_subdomains_of_one_registrable_domain_are_one_site() -> None:
    assert registrable_domain("www.bbc.co.uk") == registrable_domain("news.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("m.lenta.ru") == "lenta.ru"
    assert registrable_domain("alice.github.io") != registrable_domain("bob.github.io")
    result = http(200, url="https://news.example.com/a/1", final_url="https://m.example.com/a/1-mobile",
                  body=page("Story", "Story", ARTICLE_TEXT))
    assert result.outcome == "ok"


def test_redirect_to_where_the_probe_lands_is_redirected_away() -> None:
    probe = ProbeAnswer(200, "https://news.example.com/search?q=lastseen-probe-x9", "search\nsearch results")
    result = http(200, final_url="https://news.example.com/search?q=flood-in-the-city", probe=probe,
                  chain=[URL, "https://news.example.com/search?q=flood-in-the-city"],
                  body=page("Search", "Search", "No results"))
    assert result.outcome == "redirected_away"
    same = ProbeAnswer(200, "https://news.example.com/sections/gone", "")
    assert http(200, final_url="https://news.example.com/sections/gone", probe=same,
                body=page("Sections", "All sections", ARTICLE_TEXT)).outcome == "redirected_away"


def test_probe_that_did_not_redirect_proves_nothing_about_a_redirect() -> None:
    probe = ProbeAnswer(404, "https://news.example.com/lastseen-probe-x9", "\n")
    result = http(200, final_url="https://news.example.com/politics/2024/flood-in-the-city-updated", probe=probe,
                  body=page("Flood in the city", "Flood in the city", ARTICLE_TEXT))
    assert result.outcome == "ok" and "moved to" in result.detail


@pytest.mark.parametrize("chain, final_url", [
    (["https://a.example/x", "https://a.example/y", "https://a.example/x"], "https://a.example/y"),
    (["https://a.example/x", "https://a.example/x?c=1", "https://a.example/x"], "https://a.example/x?c=1"),
])
def test_redirect_loop_is_not_proof_of_removal(chain: list[str], final_url: str) -> None:
    result = http(302, url="https://a.example/x", final_url=final_url, chain=chain)
    assert result.outcome == "server_error" and "loop" in result.detail
    assert outcome_class(result.outcome) is OutcomeClass.TRANSIENT
    too_many = http(None, url="https://a.example/x", error="too_many_redirects", chain=chain * 5)
    assert too_many.outcome == "server_error" and "loop" in too_many.detail


def test_cookie_redirect_back_to_the_page_that_then_answers_is_ok() -> None:
    chain = ["https://a.example/x", "https://a.example/set-cookie", "https://a.example/x"]
    assert http(200, url="https://a.example/x", final_url="https://a.example/x", chain=chain,
                body=page("X", "X", ARTICLE_TEXT)).outcome == "ok"


def test_unfollowed_redirect() -> None:
    assert http(301, url="http://a.example/x", final_url="https://a.example/x").outcome == "ok"
    assert http(302, url="https://a.example/x", final_url="https://a.example/").outcome == "redirected_away"
    assert http(302, url="https://a.example/x", final_url=None).outcome == "server_error"


# --------------------------------------------------------------------------------------------------
# classify_http: soft 404 by wording
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    page("Page not found | Example News", "", ARTICLE_TEXT),
    page("Example News", "Page Not Found", "Try the search box."),
    page("404 Not Found", "Not Found", "The requested URL was not found on this server."),
    page("Error 404 - Example News", "Error 404", "Sorry."),
    page("Page 404 - Example News", "Page 404", "Sorry."),
    page("Example News", "Oops! That page can’t be found.", "It looks like nothing was found at this location."),
    page("Example News", "Sorry, we couldn't find that page", "Go home."),
    page("Example News", "The page you are looking for does not exist or has been moved.", ""),
    page("Example News", "This article is no longer available", ""),
    page("Nothing found", "", ""),
    # Russian
    page("Страница не найдена — РИА Новости", "", ARTICLE_TEXT),
    page("Новости", "Ошибка 404. Запрашиваемая страница не существует", "Перейдите на главную."),
    page("Новости", "Запрашиваемая вами страница не найдена", ""),
    page("Новости", "К сожалению, такой страницы не существует", ""),
    page("404 — Страница не найдена", "", ""),
    page("Новости", "Материал удален", ""),
    # Ukrainian
    page("Новини", "Сторінку не знайдено", ""),
    # plain text instead of HTML
    "404 Not Found\nnginx/1.24.0",
    "Страница не найдена\nВернуться на главную",
])
def test_soft_404_by_wording(body: str) -> None:
    result = http(200, body=body)
    assert result.outcome == "soft_404", result


@pytest.mark.parametrize("body", [
    # an article that mentions 404 or "page not found" in its text
    page("Why links rot - Example News", "Why links rot",
         "When a reader clicks an old link she often gets a 404 error or a page not found message. " * 5),
    # ...or even in its headline, as part of a longer title
    page("Why 'Page not found' errors annoy users | Tech", "Why 'Page not found' errors annoy users", ARTICLE_TEXT),
    page("The 404 bus route is cancelled", "The 404 bus route is cancelled", ARTICLE_TEXT),
    page("Hiker not found after three days of search", "Hiker not found after three days", ARTICLE_TEXT),
    page("Error 404: how the web forgets", "Error 404: how the web forgets", ARTICLE_TEXT),
    # a numbered story or item is no error page (the recheck benchmark's "Story 404")
    page("Story 404", "Story 404", ARTICLE_TEXT),
    page("Item 404 | Example Shop", "Item 404", ARTICLE_TEXT),
    page("Почему страница не найдена: как исчезают ссылки в интернете", "Как исчезают ссылки",
         "Читатель видит ошибку 404, страница не найдена. " * 5),
    # a script string or a deep paragraph is not a heading
    "<html><head><title>Flood in the city</title></head><body><h1>Flood</h1>"
    + "<p>Text.</p>" * 10 + "<p>Page not found</p></body></html>",
    "Flood in the city\nThe river broke its banks.\nMore text here.\nPage not found",
])
def test_mentions_of_404_are_ok(body: str) -> None:
    assert http(200, body=body).outcome == "ok"


# --------------------------------------------------------------------------------------------------
# classify_http: soft 404 by similarity to the probe
# --------------------------------------------------------------------------------------------------

BOILERPLATE = ("Home World Politics Business Sport Culture Opinion Subscribe Sign in. "
               "Most read: Budget vote delayed again; Storm warning for the coast; Local team wins cup; "
               "New bridge opens next month; Prices rise for the third month. "
               "About us Contact Advertise Privacy policy Terms of use. Copyright 2025 Example News Ltd. ")


def template(title: str, main: str) -> str:
    return (f"<html><head><title>{title}</title></head><body><header>{BOILERPLATE}</header>"
            f"<main><h2>{title}</h2><p>{main}</p></main><footer>{BOILERPLATE}</footer></body></html>")


PROBE_URL = "https://news.example.com/lastseen-probe-3f9a1c"
NOT_THERE = "We looked everywhere for {} but it is not here. Try the links below or search the site."


def soft_probe() -> ProbeAnswer:
    body = template("Example News", NOT_THERE.format("/lastseen-probe-3f9a1c"))
    return ProbeAnswer.from_response(200, PROBE_URL, body, url=PROBE_URL)


def test_soft_404_by_probe_similarity() -> None:
    body = template("Example News", NOT_THERE.format("/politics/2024/flood-in-the-city"))
    result = http(200, body=body, probe=soft_probe())
    assert result.outcome == "soft_404" and "similarity" in result.detail


def test_probe_answer_with_digits_and_url_echo_still_matches() -> None:
    probe_body = template("Example News", NOT_THERE.format(PROBE_URL) + " Request 88231 at 12:01:07.")
    probe = ProbeAnswer.from_response(200, PROBE_URL, probe_body, url=PROBE_URL)
    body = template("Example News", NOT_THERE.format(URL) + " Request 11902 at 09:44:51.")
    assert http(200, body=body, probe=probe).outcome == "soft_404"


def test_live_article_on_the_same_template_is_ok() -> None:
    body = template("Flood in the city - Example News", ARTICLE_TEXT)
    assert http(200, body=body, probe=soft_probe()).outcome == "ok"


def test_short_page_in_heavy_boilerplate_is_ok_because_its_title_differs() -> None:
    # A video page whose only own words are its title: the texts are near-identical, the titles are not.
    body = template("Watch: the flood from above - Example News", NOT_THERE.format("x")[:40])
    probe = soft_probe()
    assert http(200, body=body, probe=probe).outcome == "ok"


def test_probe_similarity_needs_a_probe_that_got_200() -> None:
    body = template("Example News", NOT_THERE.format("/politics/2024/flood-in-the-city"))
    probe_404 = ProbeAnswer.from_response(404, PROBE_URL, template("Example News", NOT_THERE.format("x")))
    assert http(200, body=body, probe=probe_404).outcome == "ok"
    assert http(200, body=body, probe=None).outcome == "ok"
    assert http(200, body=body, probe=ProbeAnswer(200, PROBE_URL, None)).outcome == "ok"


def test_single_page_app_shells_are_not_soft_404s() -> None:
    shell = "<html><head><title>App</title></head><body><div id=root></div><noscript>Enable JS</noscript></body></html>"
    probe = ProbeAnswer.from_response(200, PROBE_URL, shell, url=PROBE_URL)
    assert http(200, body=shell, probe=probe).outcome == "ok"


def test_fingerprint_is_title_then_words() -> None:
    fingerprint = make_fingerprint(template("Example News 2025", "Gone 404"), url=PROBE_URL)
    title, _, words = fingerprint.partition("\n")
    assert title == "example news 0"
    assert "gone" in words.split() and "0" in words.split()
    assert make_fingerprint(None) == "\n"


# --------------------------------------------------------------------------------------------------
# read_page: each provider's module reads its own pages
# --------------------------------------------------------------------------------------------------

def youtube_page(status: str, reason: str | None = None, subreason: str | None = None, *,
                 reason_as_text: bool = True) -> str:
    playability: dict[str, object] = {"status": status}
    if reason and reason_as_text:
        playability["reason"] = reason
    if reason or subreason:
        renderer: dict[str, object] = {}
        if reason:
            renderer["reason"] = {"simpleText": reason}
        if subreason:
            renderer["subreason"] = {"runs": [{"text": part} for part in subreason.split("|")]}
        playability["errorScreen"] = {"playerErrorMessageRenderer": renderer}
    player = {"responseContext": {"serviceTrackingParams": []}, "playabilityStatus": playability,
              "videoDetails": {"videoId": "dQw4w9WgXcQ"} if status == "OK" else None}
    return ("<!DOCTYPE html><html><head><title>YouTube</title></head><body><script nonce=\"x\">"
            f"var ytInitialPlayerResponse = {json.dumps(player)};var meta = document.createElement('meta');"
            "</script><script>var ytInitialData = {\"contents\": {}};</script></body></html>")


@pytest.mark.parametrize("status, reason, subreason, expected", [
    ("OK", None, None, "ok"),
    ("LIVE_STREAM_OFFLINE", "This live event will begin in 3 hours.", None, "ok"),
    ("ERROR", "Video unavailable", "This video has been removed by the uploader", "removed"),
    ("ERROR", "Video unavailable",
     "This video is no longer available because the YouTube account associated with this video has been "
     "terminated.", "account_terminated"),
    ("ERROR", "Video unavailable",
     "This video is no longer available because the YouTube account associated with this video has been closed.",
     "account_terminated"),
    ("ERROR", "This video has been removed for violating YouTube's Terms of Service", None, "removed"),
    ("ERROR", "Video unavailable", "This video has been removed for violating YouTube's policy on hate speech.",
     "removed"),
    ("ERROR", "Video unavailable", "This video is no longer available due to a copyright claim by WMG", "removed"),
    ("ERROR", "Video unavailable", None, "gone"),
    ("ERROR", "Видео недоступно", None, "gone"),  # localized wording: ERROR alone is YouTube's hard error
    ("LOGIN_REQUIRED", "This video is private", None, "private"),
    ("LOGIN_REQUIRED", "Private video", "Sign in if you've been granted access to this video", "private"),
    ("LOGIN_REQUIRED", "Sign in to confirm your age", "This video may be inappropriate for some users.",
     "age_restricted"),
    ("LOGIN_REQUIRED", "Sign in to confirm you’re not a bot", "This helps protect our community. |Learn more",
     "blocked"),
    ("UNPLAYABLE", "Video unavailable", "The uploader has not made this video available in your country",
     "geo_blocked"),
    ("UNPLAYABLE", "Video unavailable",
     "This video contains content from SME, who has blocked it in your country on copyright grounds.",
     "geo_blocked"),
    ("UNPLAYABLE", "Video unavailable", "This content isn't available, try again later.", "blocked"),
    ("AGE_CHECK_REQUIRED", "Sign in to confirm your age", None, "age_restricted"),
    ("AGE_VERIFICATION_REQUIRED", None, None, "age_restricted"),
    ("CONTENT_CHECK_REQUIRED", "The following content may be inappropriate or offensive to some audiences.",
     None, "age_restricted"),
])
def test_youtube_playability(status: str, reason: str | None, subreason: str | None, expected: str) -> None:
    result = read_page("youtube", 200, youtube_page(status, reason, subreason))
    assert result is not None and result.outcome == expected, result
    assert status in result.detail


@pytest.mark.parametrize("status, reason", [
    ("UNPLAYABLE", "Playback on other websites has been disabled by the video owner."),
    ("UNPLAYABLE", "This video requires payment to watch."),
    ("LOGIN_REQUIRED", "Войдите, чтобы продолжить"),  # wording we do not know: do not guess
    ("SOMETHING_NEW", "Video unavailable"),
])
def test_youtube_playability_without_a_verdict(status: str, reason: str) -> None:
    assert read_page("youtube", 200, youtube_page(status, reason)) is None


def test_youtube_reason_only_in_the_error_screen() -> None:
    body = youtube_page("ERROR", "Video unavailable", "This video has been removed by the uploader",
                        reason_as_text=False)
    result = read_page("youtube", 200, body)
    assert result is not None and result.outcome == "removed"


def test_youtube_pages_without_a_player_response() -> None:
    assert read_page("youtube", 200, "<html><body>Before you continue to YouTube</body></html>") is None
    captcha = "<html><body>Our systems have detected unusual traffic from your computer network.</body></html>"
    result = read_page("youtube", 200, captcha)
    assert result is not None and result.outcome == "blocked"
    broken = "<script>var ytInitialPlayerResponse = {\"playabilityStatus\": {\"status\": \"ERR</script>"
    assert read_page("youtube", 200, broken) is None
    assert read_page("youtube", 404, youtube_page("ERROR", "Video unavailable")) is None


@pytest.mark.parametrize("body, expected", [
    ({"error": {"code": "DM002", "title": "Content deleted.", "raw_message": "Content deleted."}}, "removed"),
    ({"error": {"code": "DM005", "title": "Content rejected."}}, "removed"),
    ({"error": {"code": "DM004", "title": "Copyrighted content"}}, "removed"),
    ({"error": {"code": "DM007", "title": "Video geo-restricted by its owner."}}, "geo_blocked"),
    ({"error": {"code": "DM008", "title": "Explicit content"}}, "age_restricted"),
    ({"error": {"code": "DM010", "title": "Private content"}}, "private"),
    ({"error": {"code": "DM012", "title": "Encoding in progress"}}, None),
    ({"error": {"code": "DM016", "title": "Content not available on this website"}}, None),
    ({"title": "Flood in the city", "qualities": {"auto": []}}, "ok"),
])
def test_dailymotion_player_metadata(body: dict[str, object], expected: str | None) -> None:
    result = read_page("dailymotion", 200, json.dumps(body))
    assert (result.outcome if result else None) == expected
    assert read_page("dailymotion", 200, "<html>not json</html>") is None


@pytest.mark.parametrize("body, expected", [
    ('<div class="message_page_body"><!>Видеозапись <b>Flood</b> '
     'была изъята из публичного доступа в связи с обращением правообладателя.<!>', "removed"),
    ('<div><!>The video <b>Flood</b> was removed from public access by request of the copyright holder.</div>',
     "removed"),
    ("<!>This video is no longer available, because it has been deleted.", "removed"),
    ("<!>Видеозапись недоступна, так как её автор был заблокирован.", "account_terminated"),
    ("<!>This video is no longer available, because its author has been blocked.", "account_terminated"),
    ("<!>The video Flood is not available in your region.", "geo_blocked"),
    ("<!>Access denied", "private"),
    ('<!>Please log in or <a href="/join">sign up</a>', "private"),
    ("<!>Видео временно недоступно", None),
    ('<div class="video_layer_message">This video has been removed by the uploader.</div>', "removed"),
    ("<html><body><script>var playerParams = {};</script></body></html>", None),
])
def test_vk_pages(body: str, expected: str | None) -> None:
    result = read_page("vk", 200, body)
    assert (result.outcome if result else None) == expected


@pytest.mark.parametrize("body, expected", [
    ('<div class="vp_video_stub_txt">Video has not been found</div>', "gone"),
    ('<div class="vp_video_stub vp_video_stub_txt">The author of this video has not been found or is blocked</div>',
     "account_terminated"),
    ('<div class="vp-layer-info">Access to this video is restricted</div>', "private"),
    ('<div class="vp_video_stub_txt">Something new</div>', None),
    ('<div data-options="{}">player</div>', None),
])
def test_ok_pages(body: str, expected: str | None) -> None:
    result = read_page("ok", 200, body)
    assert (result.outcome if result else None) == expected


def test_providers_without_page_signals() -> None:
    body = youtube_page("ERROR", "Video unavailable")
    assert read_page("vimeo", 200, body) is None
    assert read_page("rutube", 200, body) is None
    assert read_page("youtube", 200, "") is None


# --------------------------------------------------------------------------------------------------
# classify_oembed
# --------------------------------------------------------------------------------------------------

OEMBED_OK = json.dumps({"title": "Flood", "author_name": "News", "type": "video", "html": "<iframe></iframe>"})


@pytest.mark.parametrize("status, body, provider, expected", [
    (200, OEMBED_OK.encode(), None, "ok"),
    (200, None, None, "ok"),
    (200, b"Forbidden", None, None),
    (200, b"[]", None, None),
    (404, b"Not Found", None, "gone"),
    (404, b"Not Found", "youtube", "gone"),
    (410, None, None, "gone"),
    (404, b"", "vimeo", None),  # Vimeo answers 404 for domain-restricted embeds too
    (401, b"Unauthorized", "youtube", None),  # private *or* embedding disabled: not honest to pick one
    (403, b"Forbidden", None, None),
    (400, b"Bad Request", None, None),
    (451, None, None, "geo_blocked"),
    (429, None, None, None),
    (503, None, None, None),
])
def test_oembed(status: int, body: bytes | None, provider: str | None, expected: str | None) -> None:
    result = classify_oembed(status, body, provider=provider)
    assert (result.outcome if result else None) == expected


def test_oembed_transient_answers_on_request() -> None:
    assert classify_oembed(429, None, include_transient=True) == Classification(Outcome.BLOCKED, "oEmbed HTTP 429")
    result = classify_oembed(502, b"Bad Gateway", include_transient=True)
    assert result is not None and result.outcome == "server_error"
    assert classify_oembed(401, b"Unauthorized", include_transient=True) is None


def test_oembed_positional_call_as_the_crawl_makes_it() -> None:
    result = classify_oembed(404, b"Not Found")
    assert result is not None and result.outcome == "gone"


# --------------------------------------------------------------------------------------------------
# classify_ytdlp_error: message texts as yt-dlp raises them
# --------------------------------------------------------------------------------------------------

COOKIES = ("Use --cookies-from-browser or --cookies for the authentication. See  "
           "https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass "
           "cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips "
           "on effectively exporting YouTube cookies")
BUG = ("; please report this issue on  https://github.com/yt-dlp/yt-dlp/issues?q= , filling out the appropriate "
       "issue template. Confirm you are on the latest version using  yt-dlp -U")


@pytest.mark.parametrize("message, expected", [
    # YouTube: playability reasons joined as extractor/youtube/_video.py joins them
    ("[youtube] dQw4w9WgXcQ: Video unavailable. This video has been removed by the uploader", "removed"),
    ("ERROR: [youtube] QJO3ROT-A4E: Video unavailable. This video is no longer available because the YouTube "
     "account associated with this video has been terminated.", "account_terminated"),
    ("[youtube] W-rpyQH8dlE: Video unavailable. This video is no longer available because the YouTube account "
     "associated with this video has been closed.", "account_terminated"),
    ("[youtube] Saix8wDp2iA: This video has been removed for violating YouTube's Terms of Service", "removed"),
    ("[youtube] 6SJNVb0GnPI: This video has been removed for violating YouTube's policy on hate speech.", "removed"),
    ("[youtube] Ik1C0aYvqVk: Video unavailable. This video is no longer available due to a copyright claim by "
     "Sarah Ann Kennedy", "removed"),
    ("[youtube] 4w8ua3cB_nA: Private video. Sign in if you've been granted access to this video. " + COOKIES,
     "private"),
    ("[youtube] abcdefghijk: This video is private", "private"),
    ("[youtube] abcdefghijk: Join this channel to get access to members-only content like this video, and other "
     "exclusive perks.", "private"),
    ("[youtube] M3GgCZFVBIo: Sign in to confirm your age. This video may be inappropriate for some users. " + COOKIES,
     "age_restricted"),
    ("[youtube] fr3I54p2qhE: The uploader has not made this video available in your country", "geo_blocked"),
    ("[youtube] _KzZoZD4y6E: Video unavailable. This video contains content from SME, who has blocked it in your "
     "country on copyright grounds.", "geo_blocked"),
    ("[youtube] abcdefghijk: This video contains content from SME, who has blocked it on copyright grounds.",
     "removed"),
    ("[youtube] abcdefghijk: Video unavailable", "gone"),
    ("[youtube] abcdefghijk: Video unavailable. This video is not available", "gone"),
    # common.py defaults: raise_geo_restricted, raise_login_required
    ("[generic] x: This video is not available from your location due to geo restriction", "geo_blocked"),
    ("[facebook] 123: This video is only available for registered users. " + COOKIES, "private"),
    # Vimeo
    ("[vimeo] 76979871: This video is protected by a password, use the --video-password option", "private"),
    ("[vimeo] 1: Not found. Authentication may be needed due to your location. If your IP address is located in "
     "Europe you could try using a VPN/proxy, or else use --cookies", "geo_blocked"),
    # VK (extractor/vk.py ERRORS)
    ("[vk] -77521_162222515: Video -77521_162222515 has been removed from public access due to rightholder "
     "complaint.", "removed"),
    ("[vk] -10639516_456240611: Video -10639516_456240611 is no longer available, because its author has been "
     "blocked.", "account_terminated"),
    ("[vk] 1_2: Video 1_2 is no longer available, because it has been deleted.", "removed"),
    ("[vk] -51812607_171445436: Video -51812607_171445436 is not available in your region.", "geo_blocked"),
    ("[vk] 1_2: Video 1_2 does not exist.", "gone"),
    ("[vk] 1_2: Access denied to video 1_2.", "private"),
    ("[vk] 1_2: Video 1_2 is only available for registered users, use --username and --password options to "
     "provide account credentials.", "private"),
    # OK (extractor/odnoklassniki.py)
    ("[Odnoklassniki] 3952212382174: Video has not been found", "gone"),
    ("[Odnoklassniki] 3952212382174: The author of this video has not been found or is blocked",
     "account_terminated"),
    # Dailymotion (extractor/dailymotion.py: f'{IE_NAME} said: {title}')
    ("[dailymotion] x7tgad0: dailymotion said: Content deleted.", "removed"),
    ("[dailymotion] x7tgad0: dailymotion said: Content rejected.", "removed"),
    ("[dailymotion] x7tgad0: dailymotion said: Private content", "private"),
    ("[dailymotion] x7tgad0: Video geo-restricted by its owner.", "geo_blocked"),
    # HTTP errors, texts from a real yt-dlp run against a local server
    ("[generic] x: Unable to download webpage: HTTP Error 404: Not Found (caused by <HTTPError 404: Not Found>)",
     "gone"),
    ("[generic] x: Unable to download webpage: HTTP Error 410: Gone (caused by <HTTPError 410: Gone>)", "gone"),
    ("[rutube] 1: Unable to download video JSON: HTTP Error 404: Not Found (caused by <HTTPError 404: Not Found>)",
     "gone"),
])
def test_ytdlp_availability_messages(message: str, expected: str) -> None:
    result = classify_ytdlp_error(message)
    assert result is not None and result.outcome == expected, result
    assert classify_ytdlp_error(message, include_transient=True) == result


NETWORK_MESSAGES = [
    ("[youtube] tpUr8xVxj-w: Sign in to confirm you’re not a bot. " + COOKIES, "blocked"),
    ("[youtube] oPGVGckn7kQ: Sign in to confirm you’re not a bot. This helps protect our community. Learn more",
     "blocked"),
    ("[youtube] SOWBtuuCDig: Video unavailable. This content isn't available, try again later. The current session "
     "has been rate-limited by YouTube for up to an hour.", "blocked"),
    ("[Instagram] C1: The webpage request was redirected to the login page. You have exceeded the rate-limit for "
     "accessing posts anonymously. " + COOKIES, "blocked"),
    ("[vimeo] 1: Got HTTP Error 403. If you are using a data center IP or VPN/proxy, your IP may be blocked",
     "blocked"),
    ("[generic] x: Unable to download webpage: HTTP Error 429: Too Many Requests (caused by <HTTPError 429: Too Many "
     "Requests>)", "blocked"),
    ("[generic] x: Unable to download webpage: HTTP Error 403: Forbidden (caused by <HTTPError 403: Forbidden>)",
     "blocked"),
    ("[generic] x: Unable to download webpage: HTTP Error 503: Service Unavailable (caused by <HTTPError 503: "
     "Service Unavailable>)", "server_error"),
    ("[generic] x: Unable to download webpage: HTTPConnection(host='127.0.0.1', port=1): Failed to establish a new "
     "connection: [Errno 111] Connection refused (caused by TransportError(\"HTTPConnection(host='127.0.0.1', "
     "port=1): Failed to establish a new connection: [Errno 111] Connection refused\"))", "connection_error"),
    ("[generic] x: Unable to download webpage: HTTPConnection(host='nonexistent-host.invalid', port=80): Failed to "
     "resolve 'nonexistent-host.invalid' ([Errno -2] Name or service not known) (caused by TransportError(...))",
     "dns_error"),
    ("[generic] y: Unable to download webpage: [Errno -3] Temporary failure in name resolution (caused by "
     "TransportError('[Errno -3] Temporary failure in name resolution'))", "dns_error"),
    ("[generic] x: Unable to download webpage: HTTPConnectionPool(host='127.0.0.1', port=18082): Read timed out. "
     "(read timeout=3.0) (caused by TransportError(\"HTTPConnectionPool(host='127.0.0.1', port=18082): Read timed "
     "out. (read timeout=3.0)\"))", "timeout"),
    ("[generic] x: Unable to download webpage: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006) "
     "(caused by SSLError('[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)'))" + BUG,
     "connection_error"),
    ("[youtube] abc: A network error has occurred. (caused by TransportError('timed out'))", "timeout"),
]


@pytest.mark.parametrize("message, expected", NETWORK_MESSAGES)
def test_ytdlp_network_messages_are_failures_not_availability(message: str, expected: str) -> None:
    assert classify_ytdlp_error(message) is None  # the crawl then asks oEmbed
    result = classify_ytdlp_error(message, include_transient=True)
    assert result is not None and result.outcome == expected, result
    assert outcome_class(result.outcome) is OutcomeClass.TRANSIENT


@pytest.mark.parametrize("message", [
    "Unsupported URL: http://127.0.0.1:18081/200/x",
    "[youtube] abc: Requested format is not available. Use --list-formats for a list of available formats",
    "[youtube] abc: This live event will begin in 3 hours.",
    "[youtube] abc: Premieres in 2 days",
    "[vk] 1_2: Video 1_2 is temporarily unavailable.",
    "[vimeo] 1: Cannot download embed-only video without embedding URL. Please call yt-dlp with the URL of the page "
    "that embeds this video.",
    "[youtube] abc: This video is DRM protected",
    "[generic] x: Unable to extract title" + BUG,
    "[youtube] abc: An extractor error has occurred. (caused by KeyError('videoDetails'))" + BUG,
    "",
    "   ",
])
def test_ytdlp_messages_that_say_nothing_about_availability(message: str) -> None:
    assert classify_ytdlp_error(message) is None
    assert classify_ytdlp_error(message, include_transient=True) is None


def test_ytdlp_video_id_is_not_read_as_wording() -> None:
    # A generic extractor names the video after the URL's last segment; that is not the error's wording.
    message = "[generic] private-video-unavailable: Unable to download webpage: HTTP Error 503: Service Unavailable"
    assert classify_ytdlp_error(message) is None
    result = classify_ytdlp_error(message, include_transient=True)
    assert result is not None and result.outcome == "server_error"


def test_ytdlp_multiline_message_uses_its_first_line() -> None:
    message = ("ERROR: [youtube] abc: The uploader has not made this video available in your country\n"
               "This video is available in Germany.\nYou might want to use a VPN or a proxy server")
    result = classify_ytdlp_error(message)
    assert result is not None and result.outcome == "geo_blocked"


# --------------------------------------------------------------------------------------------------
# The state machine
# --------------------------------------------------------------------------------------------------

POLICY = WatchPolicy()


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def run(steps: list[tuple[float, str]], state: SourceState | None = None,
        policy: WatchPolicy = POLICY) -> tuple[SourceState, list[tuple[str, Transition | None, timedelta | None]]]:
    """Apply (hour, outcome) steps; return the final state and (status, transition, next_check_in) per step."""
    state = state or SourceState()
    trace = []
    for hour, outcome in steps:
        decision = decide(state, outcome, at(hour), policy)
        state = decision.new_state
        trace.append((state.status.value, decision.transition, decision.next_check_in))
    return state, trace


def kinds(trace: list[tuple[str, Transition | None, timedelta | None]]) -> list[str | None]:
    return [t.kind.value if t else None for _, t, _ in trace]


def statuses(trace: list[tuple[str, Transition | None, timedelta | None]]) -> list[str]:
    return [status for status, _, _ in trace]


def alive_state(hours: float = 0) -> SourceState:
    return decide(SourceState(), "ok", at(hours), POLICY).new_state


def test_new_source_first_ok_is_alive() -> None:
    state, trace = run([(0, "ok")])
    assert state.status == "alive" and state.last_seen_alive_at == at(0) and state.vanished_at is None
    transition = trace[0][1]
    assert transition == Transition(SourceStatus.NEW, SourceStatus.ALIVE, "ok", at(0), TransitionKind.ALIVE)
    assert not transition.alerts
    assert trace[0][2] is None


def test_one_404_then_ok_never_vanishes() -> None:
    state, trace = run([(0, "ok"), (24, "gone"), (25, "ok")])
    assert statuses(trace) == ["alive", "alive", "alive"]
    assert kinds(trace) == ["alive", None, None]
    assert trace[1][2] == timedelta(hours=1)  # the confirming check is brought forward
    assert state.streak_count == 0 and state.streak_outcome_class is None
    assert state.vanished_at is None and state.last_seen_alive_at == at(25)


def test_confirmed_definitive_outcome_vanishes() -> None:
    state, trace = run([(0, "ok"), (24, "gone"), (25, "gone")])
    assert statuses(trace) == ["alive", "alive", "vanished"]
    transition = trace[2][1]
    assert transition == Transition(SourceStatus.ALIVE, SourceStatus.VANISHED, "gone", at(25),
                                    TransitionKind.VANISHED)
    assert transition.alerts
    assert state.reason == "gone" and state.vanished_at == at(25) and state.last_seen_alive_at == at(0)
    assert trace[2][2] is None


@pytest.mark.parametrize("first, second, reason", [
    ("gone", "removed", "removed"),
    ("removed", "gone", "removed"),
    ("private", "account_terminated", "account_terminated"),
    ("soft_404", "redirected_away", "soft_404"),
    ("redirected_away", "gone", "gone"),
    ("geo_blocked", "private", "private"),
])
def test_different_definitive_reasons_in_a_row_count(first: str, second: str, reason: str) -> None:
    state, trace = run([(0, "ok"), (24, first), (25, second)])
    assert statuses(trace)[-1] == "vanished"
    assert state.reason == reason and trace[-1][1] is not None and trace[-1][1].reason == reason


def test_new_source_gone_at_first_check() -> None:
    state, trace = run([(0, "gone")])
    assert state.status == "new" and trace[0][1] is None and trace[0][2] == timedelta(hours=1)
    state, trace = run([(1, "gone")], state)
    assert state.status == "vanished" and state.reason == "gone"
    assert trace[0][1] == Transition(SourceStatus.NEW, SourceStatus.VANISHED, "gone", at(1), TransitionKind.VANISHED)
    assert state.last_seen_alive_at is None


def test_definitive_transient_definitive_is_not_a_confirmation() -> None:
    state, trace = run([(0, "ok"), (24, "gone"), (25, "timeout"), (26, "gone")])
    assert statuses(trace) == ["alive", "alive", "unreachable", "unreachable"]
    assert kinds(trace) == ["alive", None, "unreachable", None]
    assert state.streak_outcome_class == "definitive" and state.streak_count == 1
    assert trace[3][2] == timedelta(hours=1)
    # Only a second definitive outcome in a row confirms.
    state, trace = run([(27, "removed")], state)
    assert state.status == "vanished" and state.reason == "removed"
    assert trace[0][1] is not None and trace[0][1].from_status == "unreachable"


def test_alternating_evidence_never_vanishes_on_its_own() -> None:
    steps = [(24 + i, "gone" if i % 2 == 0 else "blocked") for i in range(12)]
    state, trace = run([(0, "ok"), *steps])
    assert "vanished" not in statuses(trace)


def test_transient_failures_over_less_than_the_span_never_vanish() -> None:
    # 24 timeouts, hourly, spanning 23 hours: many checks, too short a time.
    steps = [(24 + hour, "timeout") for hour in range(24)]
    state, trace = run([(0, "ok"), *steps])
    assert set(statuses(trace)[1:]) == {"unreachable"}
    assert kinds(trace) == ["alive", "unreachable"] + [None] * 23
    assert not trace[1][1].alerts
    assert state.reason == "timeout" and state.streak_count == 24 and state.streak_started_at == at(24)
    # The next one, 24 hours after the first failure, meets both rules.
    state, trace = run([(48, "timeout")], state)
    assert state.status == "vanished" and state.reason == "timeout" and state.vanished_at == at(48)
    assert trace[0][1] == Transition(SourceStatus.UNREACHABLE, SourceStatus.VANISHED, "timeout", at(48),
                                     TransitionKind.VANISHED)


def test_transient_failures_need_enough_checks_too() -> None:
    state, trace = run([(0, "ok"), (24, "dns_error"), (54, "dns_error")])
    assert statuses(trace) == ["alive", "unreachable", "unreachable"]  # 30 hours, but only 2 checks
    state, trace = run([(55, "connection_error")], state)
    assert state.status == "vanished" and state.reason == "connection_error"  # the latest transient outcome


def test_transient_checks_are_spread_over_the_span() -> None:
    _, trace = run([(0, "ok"), (24, "timeout"), (36, "timeout"), (48, "timeout")])
    assert [n for _, _, n in trace] == [None, timedelta(hours=12), timedelta(hours=12), None]
    assert statuses(trace)[-1] == "vanished"
    # Span reached but checks missing: check again soon.
    _, trace = run([(0, "ok"), (24, "server_error"), (50, "server_error")])
    assert trace[-1][2] == timedelta(hours=1)
    # Checks enough but span not reached: wait for the span, not less than confirm_delay.
    _, trace = run([(0, "ok"), (24, "blocked"), (25, "blocked"), (26, "blocked")])
    assert trace[-1][2] == timedelta(hours=22)


def test_ok_after_unreachable_is_alive_again() -> None:
    state, trace = run([(0, "ok"), (24, "timeout"), (36, "ok")])
    assert statuses(trace) == ["alive", "unreachable", "alive"]
    assert trace[2][1] == Transition(SourceStatus.UNREACHABLE, SourceStatus.ALIVE, "ok", at(36),
                                     TransitionKind.ALIVE)
    assert not trace[2][1].alerts and state.reason is None and state.streak_count == 0


def test_changed_while_alive_alerts_and_stays_alive() -> None:
    state, trace = run([(0, "ok"), (24, "changed")])
    assert state.status == "alive"
    assert trace[1][1] == Transition(SourceStatus.ALIVE, SourceStatus.ALIVE, "changed", at(24),
                                     TransitionKind.CHANGED)
    assert trace[1][1].alerts and state.last_seen_alive_at == at(24)


def test_age_restricted_is_still_alive() -> None:
    state, trace = run([(0, "ok"), (24, "age_restricted")])
    assert state.status == "alive" and trace[1][1] is None
    assert state.last_seen_alive_at == at(24) and state.reason == "age_restricted"


def test_vanished_then_back_is_returned_and_stays_returned() -> None:
    state, trace = run([(0, "ok"), (24, "removed"), (25, "removed"), (48, "ok"), (72, "ok"), (96, "changed")])
    assert statuses(trace) == ["alive", "alive", "vanished", "returned", "returned", "returned"]
    assert kinds(trace) == ["alive", None, "vanished", "returned", None, "changed"]
    assert trace[3][1] is not None and trace[3][1].alerts and trace[3][1].from_status == "vanished"
    assert state.vanished_at == at(25)  # the last vanishing, kept for the record
    assert state.last_seen_alive_at == at(96)


def test_returned_survives_an_unreachable_spell_and_can_vanish_again() -> None:
    state, _ = run([(0, "ok"), (24, "gone"), (25, "gone"), (48, "ok")])
    state, trace = run([(72, "timeout"), (80, "ok")], state)
    assert statuses(trace) == ["unreachable", "returned"]
    assert kinds(trace) == ["unreachable", "alive"]
    state, trace = run([(100, "private"), (101, "private")], state)
    assert statuses(trace) == ["returned", "vanished"]
    assert state.vanished_at == at(101) and state.reason == "private"
    assert trace[1][1] is not None and trace[1][1].from_status == "returned"


def test_vanished_stays_vanished_on_more_bad_news() -> None:
    state, _ = run([(0, "ok"), (24, "gone"), (25, "gone")])
    state, trace = run([(48, "timeout"), (72, "gone"), (96, "blocked")], state)
    assert statuses(trace) == ["vanished"] * 3
    assert [t for _, t, _ in trace] == [None, None, None]
    assert [n for _, _, n in trace] == [None, None, None]
    assert state.reason == "gone" and state.vanished_at == at(25)


def test_vanished_as_unreachable_learns_the_real_reason_without_a_second_alert() -> None:
    state, _ = run([(0, "ok"), (24, "timeout"), (36, "timeout"), (48, "timeout")])
    assert state.status == "vanished" and state.reason == "timeout"
    state, trace = run([(72, "gone"), (73, "gone")], state)
    assert [t for _, t, _ in trace] == [None, None]
    assert state.status == "vanished" and state.reason == "gone" and state.vanished_at == at(48)


def test_changed_after_vanished_is_a_return() -> None:
    state, _ = run([(0, "ok"), (24, "gone"), (25, "gone")])
    state, trace = run([(48, "changed")], state)
    assert state.status == "returned"
    assert trace[0][1] == Transition(SourceStatus.VANISHED, SourceStatus.RETURNED, "changed", at(48),
                                     TransitionKind.RETURNED)


def test_state_restored_from_stored_columns() -> None:
    # What the database keeps: status, status_reason, streak_outcome, streak_count, streak_started_at...
    stored = SourceState(status="alive", reason=None, streak_outcome="gone", streak_count=1,
                         streak_started_at=at(24), last_seen_alive_at=at(0))
    assert stored.streak_outcome_class is OutcomeClass.DEFINITIVE
    decision = decide(stored, "soft_404", at(25), POLICY)
    assert decision.new_state.status == "vanished" and decision.new_state.reason == "gone"
    # The brief's form, with the class only.
    by_class = SourceState(status="alive", streak_outcome_class="transient", streak_count=2,
                           streak_started_at=at(0))
    decision = decide(by_class, "timeout", at(24), POLICY)
    assert decision.new_state.status == "vanished" and decision.new_state.reason == "timeout"


def test_decide_rejects_unknown_outcomes() -> None:
    with pytest.raises(ValueError):
        decide(SourceState(), "vanished", T0, POLICY)
    with pytest.raises(ValueError):
        SourceState(status="dead")


# --------------------------------------------------------------------------------------------------
# The policy comes from the settings
# --------------------------------------------------------------------------------------------------

def test_policy_defaults_match_settings_defaults() -> None:
    assert WatchPolicy.from_settings(Settings()) == WatchPolicy() == WatchPolicy(
        confirm_checks=2, confirm_delay=timedelta(hours=1), transient_checks=3, transient_span=timedelta(hours=24))


def test_settings_change_the_thresholds() -> None:
    settings = load_settings(environ={"LASTSEEN_CONFIRM_CHECKS": "3", "LASTSEEN_CONFIRM_DELAY": "10m",
                                      "LASTSEEN_TRANSIENT_CHECKS": "2", "LASTSEEN_TRANSIENT_SPAN": "2h"})
    policy = WatchPolicy.from_settings(settings)
    assert policy == WatchPolicy(3, timedelta(minutes=10), 2, timedelta(hours=2))
    # Three definitive outcomes are needed now; the confirming checks come 10 minutes later.
    state, trace = run([(0, "ok"), (24, "gone"), (24.2, "gone"), (24.4, "gone")], policy=policy)
    assert statuses(trace) == ["alive", "alive", "alive", "vanished"]
    assert [n for _, _, n in trace][1:3] == [timedelta(minutes=10), timedelta(minutes=10)]
    # Two transient failures two hours apart are enough now.
    state, trace = run([(0, "ok"), (24, "timeout"), (26, "timeout")], policy=policy)
    assert statuses(trace) == ["alive", "unreachable", "vanished"]
    # With the defaults the same sequences do not vanish.
    _, trace = run([(0, "ok"), (24, "timeout"), (26, "timeout")])
    assert statuses(trace)[-1] == "unreachable"


def test_one_check_policy_vanishes_at_once() -> None:
    policy = WatchPolicy.from_settings(Settings().replace(confirm_checks=1))
    state, trace = run([(0, "ok"), (24, "removed")], policy=policy)
    assert state.status == "vanished" and kinds(trace)[-1] == "vanished"


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        WatchPolicy(confirm_checks=0)
    with pytest.raises(UsageError, match="must be at least 1"):  # a bad setting: one line, exit 2
        WatchPolicy.from_settings(Settings().replace(transient_checks=0))
