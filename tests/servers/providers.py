"""One local server playing every video provider: its oEmbed endpoint and the page lastseen asks, per video state.

Each provider answers the way the real one does (status codes and bodies, from its documentation and yt-dlp's
extractors), traps included: YouTube's watch page is 200 whatever happened (its playabilityStatus says it, a
"try again later" rate limit and a "confirm you're not a bot" check among them), oEmbed 401 for an age-gated
video that is still there, Telegram's post page 200 with the channel's preview for a deleted post (only its
?embed=1 widget says "Post not found"), Facebook and Instagram login walls and rate-limit pages.
`endpoints()` points the checker at this server, and `answer` plays the providers' real URLs for
tests.servers.internet: no test reaches the internet.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from archive.providers import OEMBED_ENDPOINTS, PAGES, page_url, recognize
from archive.watch.check import VideoEndpoints
from tests.servers.site import Page, Site

OEMBED_OK = json.dumps({"type": "video", "version": "1.0", "title": "Flood in the valley", "author_name": "someone",
                        "html": "<iframe></iframe>"})


def youtube_watch(status: str, reason: str = "", subreason: str = "") -> Page:
    """A watch page whose ytInitialPlayerResponse carries this playabilityStatus (always HTTP 200)."""
    playability: dict[str, object] = {"status": status}
    if reason:
        playability["reason"] = reason
        renderer: dict[str, object] = {"reason": {"simpleText": reason}}
        if subreason:
            renderer["subreason"] = {"runs": [{"text": subreason}]}
        playability["errorScreen"] = {"playerErrorMessageRenderer": renderer}
    player = {"playabilityStatus": playability, "videoDetails": {"videoId": "x"} if status == "OK" else None}
    return Page(f"<!DOCTYPE html><html><head><title>YouTube</title></head><body><script>var ytInitialPlayerResponse"
                f" = {json.dumps(player)};</script></body></html>")


def _json(data: object, status: int = 200) -> Page:
    return Page(json.dumps(data), status=status, content_type="application/json; charset=utf-8")


def _html(body: str, status: int = 200) -> Page:
    return Page(f"<!DOCTYPE html><html><head>{body}</body></html>", status=status)


def _vk(message: str) -> Page:
    return _html(f"<title>VK</title></head><body><div class=\"message_page_body\">{message}</div>")


def _vk_stub(title: str, stub: str) -> Page:
    """A VK video page of today for a video it will not play: 200, the player replaced by one stub sentence."""
    return _html(f"<title>{title}</title></head><body><div class=\"VideoPlaceholder\"><div class=\"VideoPlaceholder"
                 f"__icon\"></div><div class=\"VideoPlaceholder__title\">{stub}</div></div>")


def _tiktok(code: int, message: str = "", item: bool = False) -> Page:
    detail: dict[str, object] = {"statusCode": code, "statusMsg": message}
    if item:
        detail["itemInfo"] = {"itemStruct": {"id": "7106594312292453675", "desc": "flood"}}
    data = {"__DEFAULT_SCOPE__": {"webapp.video-detail": detail}}
    return _html('<title>TikTok</title></head><body><script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" '
                 f'type="application/json">{json.dumps(data)}</script>')


def telegram_post_page(channel: str, post: int, text: str | None) -> Page:
    """t.me/CHANNEL/POST itself: 200 with the channel's preview and the widget's script tag, whether the post is
    there or not; only the og:description tells, being the post's text, or the channel's when it is gone."""
    description = text or "Flood news from the valley."
    return _html(f'<meta property="og:title" content="Valley News"><meta property="og:site_name" content="Telegram">'
                 f'<meta property="og:description" content="{description}">'
                 f'<title>Telegram: View @{channel}</title></head><body class="body_widget_post emoji_image">'
                 f'<div class="tgme_page_widget"><script async src="https://telegram.org/js/telegram-widget.js?22" '
                 f'data-telegram-post="{channel}/{post}" data-width="100%"></script></div>'
                 f'<div class="tgme_page_extra">Valley News, 1 234 subscribers</div>')


_NOT_FOUND = Page("Not Found", status=404, content_type="text/plain")
_UNAUTHORIZED = Page("Unauthorized", status=401, content_type="text/plain")
_FORBIDDEN = Page("Forbidden", status=403, content_type="text/plain")
_OK = Page(OEMBED_OK, content_type="application/json")

# provider -> state -> (the page lastseen asks, the oEmbed answer or None when the provider has no oEmbed)
PLAYS: dict[str, dict[str, tuple[Page, Page | None]]] = {
    "youtube": {
        "alive": (youtube_watch("OK"), _OK),
        "removed": (youtube_watch("ERROR", "Video unavailable", "This video has been removed by the uploader"),
                    _NOT_FOUND),
        "private": (youtube_watch("LOGIN_REQUIRED", "Private video",
                                  "Sign in if you've been granted access to this video"), _UNAUTHORIZED),
        "terminated": (youtube_watch("ERROR", "Video unavailable", "This video is no longer available because the "
                                     "YouTube account associated with this video has been terminated."), _NOT_FOUND),
        "geo": (youtube_watch("UNPLAYABLE", "Video unavailable",
                              "The uploader has not made this video available in your country"), _OK),
        "age": (youtube_watch("LOGIN_REQUIRED", "Sign in to confirm your age",
                              "This video may be inappropriate for some users."), _UNAUTHORIZED),
        "try_later": (youtube_watch("UNPLAYABLE", "Video unavailable",
                                    "This content isn't available, try again later."), _OK),
        "bot": (youtube_watch("LOGIN_REQUIRED", "Sign in to confirm you\u2019re not a bot",
                              "This helps protect our community. Learn more"), _OK),
        "captcha": (_html("<title>https://www.youtube.com/watch</title></head><body><div>Our systems have detected "
                          "unusual traffic from your computer network.</div><form action=\"/sorry/index\">", 429),
                    Page("Too Many Requests", status=429, content_type="text/plain")),
    },
    "vimeo": {
        "alive": (_html("<title>Flood in the valley on Vimeo</title></head><body>player"), _OK),
        "gone": (_html("<title>Page not found on Vimeo</title></head><body>Sorry", 404), _NOT_FOUND),
        "private": (_html("<title>Private Video on Vimeo</title></head><body>log in"), _FORBIDDEN),
        "other_domains": (_html("<title>Flood on Vimeo</title></head><body>player"), _NOT_FOUND),
    },
    "dailymotion": {
        "alive": (_json({"id": "x8abcd", "title": "Flood", "qualities": {"auto": []}}), _OK),
        "removed": (_json({"error": {"code": "DM002", "title": "Content deleted.", "type": "deleted"}}), _NOT_FOUND),
        "geo": (_json({"error": {"code": "DM007", "title": "Video geo-restricted by its owner."}}), _FORBIDDEN),
        "private": (_json({"error": {"code": "DM010", "title": "Private content"}}), _FORBIDDEN),
        "age": (_json({"error": {"code": "DM008", "title": "Explicit content"}}), _OK),
    },
    "vk": {
        "alive": (_html("<title>Flood | VK</title></head><body><script>var playerParams = {};</script>"), None),
        "removed": (_vk("<!>This video is no longer available, because it has been deleted."), None),
        "terminated": (_vk("<!>This video is no longer available, because its author has been blocked."), None),
        "geo": (_vk("<!>The video Flood is not available in your region."), None),
        "private": (_vk('<!>Please log in or <a href="/join">sign up</a>'), None),
        "bot": (_html('<title>VK</title></head><body><script>location.href="/challenge.html?hash=1"</script>'), None),
        "deleted": (_vk_stub("VK Видео", "Это видео удалено"), None),
        "blocked": (_vk_stub("VK Видео", "Видеозапись заблокирована"), None),
        "community_blocked": (_vk_stub("VK Видео", "Сообщество заблокировано"), None),
        "region": (_vk_stub("VK Видео", "Это видео недоступно в вашем регионе"), None),
        "quoting": (_html('<title>Это видео удалено с YouTube | VK</title></head><body><div class="VideoPlaceholder'
                          '__title">Это видео удалено с YouTube</div><div class="reply_text">Это видео удалено'
                          '?</div><script>var playerParams = {};</script>'), None),
    },
    "rutube": {
        "alive": (_json({"id": "c3290e8a3a5f4e7d9e2cb2b0f2d6c5a1", "title": "Flood", "is_deleted": False}), _OK),
        "gone": (_json({"detail": "Not found."}, 404), _NOT_FOUND),
        "removed": (_json({"id": "c3290e8a3a5f4e7d9e2cb2b0f2d6c5a1", "title": "Flood", "is_deleted": True}), _OK),
        "hidden": (_json({"id": "c3290e8a3a5f4e7d9e2cb2b0f2d6c5a1", "title": "Flood", "is_hidden": True}), _OK),
    },
    "ok": {
        "alive": (_html('<title>OK</title></head><body><div data-options="{}">player</div>'), None),
        "gone": (_html('</head><body><div class="vp_video_stub_txt">Video has not been found</div>'), None),
        "terminated": (_html('</head><body><div class="vp_video_stub_txt">The author of this video has not been '
                             'found or is blocked</div>'), None),
        "private": (_html('</head><body><div class="vp-layer-info">Access to this video is restricted</div>'), None),
    },
    "telegram": {  # the post's embed widget (?embed=1); its own page is telegram_post_page()
        "alive": (_html('</head><body class="widget_frame_base tgme_widget body_widget_post"><div class="'
                        'tgme_widget_message text_not_supported_wrap js-widget_message" data-post="valleynews/123" '
                        'data-view="eyJjIjotMTAwMTIzNDU2Nzg5MH0"><div class="tgme_widget_message_bubble"><div '
                        'class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" '
                        'href="https://t.me/valleynews"><span dir="auto">Valley News</span></a></div><a class="'
                        'tgme_widget_message_video_player js-message_video_player" href="https://t.me/valleynews/'
                        '123"><i class="tgme_widget_message_video_thumb" style="background-image:url(\'https://cdn4'
                        '.telesco.pe/file/flood-thumb.jpg\')"></i><div class="tgme_widget_message_video_wrap"><video'
                        ' class="tgme_widget_message_video js-message_video" src="https://cdn4.telesco.pe/file/flood'
                        '.mp4" width="100%" height="100%"></video></div><time class="message_video_duration js-'
                        'message_video_duration">0:12</time></a><div class="tgme_widget_message_text js-message_text"'
                        ' dir="auto">The river at noon</div><div class="tgme_widget_message_footer"><time datetime="'
                        '2026-01-05T12:00:00+00:00" class="time">12:00</time></div></div></div>'), None),
        "gone": (_html('</head><body class="widget_frame_base tgme_widget body_widget_post"><div class="'
                       'tgme_widget_message_error">Post not found</div>'), None),
    },
    "twitter": {
        "alive": (_json({"__typename": "Tweet", "id_str": "1580661436132757506", "text": "flood",
                         "user": {"id_str": "783214", "name": "Valley News", "screen_name": "valleynews"}}), _OK),
        "author_gone": (_json({"__typename": "Tweet", "id_str": "1580661436132757506", "text": "flood",
                               "mediaDetails": [{"type": "video"}]}), _FORBIDDEN),
        "deleted": (Page("", status=404, content_type="application/json"),
                    _json({"errors": [{"message": "No status found with that ID."}]}, 404)),
        "suspended": (_json({"__typename": "TweetTombstone", "tombstone": {"text": {
            "text": "This Post is from a suspended account. Learn more", "entities": []}}}), _FORBIDDEN),
        "protected": (_json({"__typename": "TweetUnavailable", "reason": "Protected"}), _FORBIDDEN),
        "age": (_json({"__typename": "TweetTombstone", "tombstone": {"text": {
            "text": "Age-restricted adult content. This content might not be appropriate for people under 18 "
                    "years old. To view this media, you\u2019ll need to log in to X. Learn more"}}}), _OK),
    },
    "tiktok": {
        "alive": (_tiktok(0, "ok", item=True), _OK),
        "private": (_tiktok(10216, "item is private"), _json({"code": 400, "message": "Something went wrong"}, 400)),
        "gone": (_tiktok(10204, "item doesn't exist"), _json({"code": 400, "message": "Something went wrong"}, 400)),
        "deleted": (_tiktok(10204, "item_privacy_authorization&status_deleted"),
                    _json({"code": 400, "message": "Something went wrong"}, 400)),
        "withheld": (_tiktok(10204, "cross_border_violation_ur"),
                     _json({"code": 400, "message": "Something went wrong"}, 400)),
        "ip_blocked": (_tiktok(10204, ""), _json({"code": 400, "message": "Something went wrong"}, 400)),
        "captcha": (_html("<title>Verify to continue</title></head><body><div id=\"captcha-verify-container\">"),
                    _OK),
    },
    "facebook": {
        "alive": (_html('<meta property="og:video" content="https://video.example/v.mp4"></head><body>video'), None),
        "gone": (_html("<title>Facebook</title></head><body><span>This content isn't available right now</span>"
                       "<span>When this happens, it's usually because the owner only shared it with a small group "
                       "of people, changed who can see it or it's been deleted.</span>"), None),
        "login": (_html('<title>Log in to Facebook</title></head><body><div>You must log in to continue.</div>'
                        '<form id="login_form"></form>'), None),
        "throttled": (_html("<title>Facebook</title></head><body><h2>You\u2019re Temporarily Blocked</h2>"
                            "<p>It looks like you were misusing this feature by going too fast.</p>"), None),
    },
    "instagram": {
        "alive": (_html('<meta property="og:url" content="https://www.instagram.com/p/CgmTqR8OtzF/"></head>'
                        '<body>post'), None),
        "gone": (_html("<title>Page not found \u2022 Instagram</title></head><body><h2>Sorry, this page isn't "
                       "available.</h2><p>The link you followed may be broken, or the page may have been removed."
                       "</p>"), None),
        "private": (_html("<title>Instagram</title></head><body><h2>This account is private</h2>"), None),
        "login": (_html('<title>Login \u2022 Instagram</title></head><body><form id="loginForm"></form>'), None),
        "throttled": (_html("<title>Instagram</title></head><body><p>Please wait a few minutes before you try "
                            "again.</p>"), None),
        "login_redirect": (Page("", status=302, headers=[("Location", "/accounts/login/?next=%2Fp%2FCgmTqR8OtzF%2F")],
                                content_type=None), None),
    },
}


class ProviderServer:
    """The providers on one local Site: set a video's state, then check it through endpoints(), or ask the
    providers' real URLs through tests.servers.internet (answer)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.states: dict[tuple[str, str], str] = {}
        self.canonical: dict[tuple[str, str], str] = {}
        for provider in PLAYS:
            site.set(f"/{provider}/oembed", self._oembed)
            site.set(f"/{provider}/page", self._page)
        site.set("/accounts/login/", _html('<title>Instagram</title></head><body><div id="react-root"></div>'))

    def set(self, url: str, state: str) -> tuple[str, str]:
        """The video this URL names now answers as in this state; its (provider, id)."""
        found = recognize(url)
        assert found is not None, url
        self.states[(found[0], found[1])] = state
        self.canonical[(found[0], found[1])] = found[2]
        return found[0], found[1]

    def endpoints(self) -> VideoEndpoints:
        """Every provider's oEmbed endpoint and page on this server (the page's own query kept: ?embed=1...)."""
        pages = {}
        for provider, template in PAGES.items():
            query = urlsplit(template).query
            pages[provider] = self.site.url(f"/{provider}/page?id={{id}}" + (f"&{query}" if query else ""))
        return VideoEndpoints(oembed={p: self.site.url(f"/{p}/oembed") for p in OEMBED_ENDPOINTS}, pages=pages)

    def answer(self, method: str, url: str, body: bytes) -> Page | None:
        """What the provider's real URL answers (its oEmbed endpoint, the page lastseen asks, the video's own
        page); None when the URL is no provider's or names no video set here."""
        parts = urlsplit(url)
        for endpoint in OEMBED_ENDPOINTS.values():
            if url.startswith(f"{endpoint}?"):
                found = recognize(parse_qs(parts.query).get("url", [""])[0])
                return self._answer(found[0], found[1])[1] if found else _NOT_FOUND
        for (provider, video_id), canonical in self.canonical.items():
            page = page_url(provider, PAGES[provider], video_id, canonical)
            if provider == "telegram" and parts.path == urlsplit(page).path:
                return self._telegram(video_id, embed="embed" in parse_qs(parts.query))
            if _same_page(url, page):
                return self._answer(provider, video_id)[0]
        found = recognize(url)
        if found is None or (found[0], found[1]) not in self.states:
            return None
        return _html(f"<title>{found[0]} video {found[1]}</title></head><body>the video's page</body>")

    def _answer(self, provider: str, video_id: str) -> tuple[Page, Page | None]:
        state = self.states.get((provider, video_id))
        return PLAYS[provider][state] if state else (Page("no such video", status=404), _NOT_FOUND)

    def _telegram(self, video_id: str, embed: bool) -> Page:
        """The post's embed widget, or (the trap) its own page: the channel's preview, 200 whatever happened."""
        if embed:
            return self._answer("telegram", video_id)[0]
        channel, post = video_id.split("/")
        alive = self.states.get(("telegram", video_id)) == "alive"
        return telegram_post_page(channel, int(post), "The river at noon" if alive else None)

    def _page(self, request: BaseHTTPRequestHandler) -> Page:
        parts = urlsplit(request.path)
        provider = parts.path.split("/")[1]
        query = parse_qs(parts.query)
        if provider == "telegram":
            return self._telegram(query["id"][0], embed="embed" in query)
        return self._answer(provider, query["id"][0])[0]

    def _oembed(self, request: BaseHTTPRequestHandler) -> Page:
        parts = urlsplit(request.path)
        found = recognize(parse_qs(parts.query)["url"][0])
        if found is None:
            return Page("Bad Request", status=400, content_type="text/plain")
        answer = self._answer(found[0], found[1])[1]
        assert answer is not None, f"{found[0]} has no oEmbed: lastseen must not ask it"
        return answer


def _same_page(url: str, page: str) -> bool:
    """True when url asks for page: same place, with every parameter of page (clients add their own)."""
    asked, wanted = urlsplit(url), urlsplit(page)
    if (asked.scheme, asked.netloc, asked.path) != (wanted.scheme, wanted.netloc, wanted.path):
        return False
    params = parse_qs(asked.query, keep_blank_values=True)
    return all(params.get(k) == v for k, v in parse_qs(wanted.query, keep_blank_values=True).items())
