"""Instagram: posts, reels and IGTV by shortcode (also under a user's path); what it says.

Asked: the post's page (Instagram's oEmbed needs an app token). A post that is gone answers "Sorry, this
page isn't available." (the link may be broken or the page removed); a private account's post says "This
account is private"; a login page (yt-dlp: "Main webpage is locked behind the login page") is a login wall
and "Please wait a few minutes before you try again" a rate limit: we could not tell. So is a post page sent to
the login page or the home page: yt-dlp's "You have exceeded the rate-limit for accessing posts anonymously".
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from archive.providers.base import CODE, Found, VideoURL
from archive.status import Classification, Outcome, wall_page

NAME = "instagram"
DOMAINS = ("instagram.com", "instagr.am")
# Hosts (and their subdomains) whose pages render client-side, captured in a browser in auto mode:
# posts and profiles are filled in by scripts from its API.
RENDERED_HOSTS = ("instagram.com",)
HINTS = ("instagr",)
OEMBED = None
PAGE = "{url}"

_KINDS = ("p", "reel", "reels", "tv")


def recognize(url: VideoURL) -> Found | None:
    """The shortcode and its /p/ page."""
    segs = url.segments
    code = None
    if len(segs) >= 2 and segs[0] in _KINDS:
        code = segs[1]
    elif len(segs) >= 3 and segs[1] in _KINDS and segs[0] not in ("explore", "stories", "accounts"):
        code = segs[2]
    if not code or code == "audio" or len(code) < 5 or not CODE.fullmatch(code):
        return None
    return NAME, code, f"https://www.instagram.com/p/{code}/"


_GONE = re.compile(r"(?i)sorry, this page isn(?:'|’)t available")
_PRIVATE = re.compile(r"(?i)this account is private")
_LOGIN = re.compile(r'(?i)<title>\s*login • instagram|id="loginForm"|"/accounts/login/\?next=')
_THROTTLED = re.compile(r"(?i)please wait a few minutes before you try again")
_POST = re.compile(r'(?i)<meta[^>]+property="og:url"[^>]+content="https://www\.instagram\.com/(?:[\w.]+/)?(?:p|reel|tv)/')


def read_page(status: int, text: str) -> Classification | None:
    """Gone or private wording, a login wall or rate limit (blocked), or the post's page (ok)."""
    for pattern, outcome, what in ((_THROTTLED, Outcome.BLOCKED, "rate limit"), (_GONE, Outcome.GONE, "gone"),
                                   (_PRIVATE, Outcome.PRIVATE, "private account")):
        found = pattern.search(text)
        if found:
            return Classification(outcome, f"Instagram: {found.group(0)} ({what})")
    if _POST.search(text):
        return Classification(Outcome.OK, "Instagram shows the post")
    if _LOGIN.search(text):
        return Classification(Outcome.BLOCKED, "Instagram: login required to see the post (login wall)")
    return wall_page(text)


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """Instagram is not asked by oEmbed: nothing."""
    return None


def read_redirect(url: str, final_url: str) -> Classification | None:
    """A post sent to the login page or the home page: a login wall for anonymous visitors (blocked)."""
    path = urlsplit(final_url).path
    if path.startswith("/accounts/login") or path in ("", "/"):
        return Classification(Outcome.BLOCKED, f"Instagram sent the post to {final_url} (login wall or anonymous "
                                               "rate limit)")
    return None
