"""Facebook: watch, video, reel and page-video URLs, the embed plugin, and share / fb.watch short links.

Short links that cannot be resolved offline (fb.watch/CODE, facebook.com/share/v/CODE) are kept as videos
whose id is the short code; they cannot be merged with the numeric id they point to.

Asked: the video's page (Facebook's oEmbed needs an app token). It answers 200 both ways: a video that was
deleted or whose audience changed says "This content isn't available right now" (or "This video isn't
available anymore", "the link you followed may be broken"), gone; a page that only shows the login form
("You must log in to continue", id="login_form", what yt-dlp's facebook.py looks for) is a login wall: we
could not tell. "You're temporarily blocked" / "You've been temporarily blocked" is a rate limit.
"""

from __future__ import annotations

import re

from archive.providers.base import CODE, Found, VideoURL, is_num, parse_url, query_params
from archive.status import Classification, Outcome, wall_page

NAME = "facebook"
DOMAINS = ("facebook.com", "fb.com", "fb.watch")
# Hosts (and their subdomains) whose pages render client-side, captured in a browser in auto mode:
# posts are filled in by scripts.
RENDERED_HOSTS = ("facebook.com", "m.facebook.com")
HINTS = ("facebook", "fb.")
OEMBED = None
PAGE = "{url}"


def _plugin(href: str) -> Found | None:
    """The Facebook video an embed plugin's href names."""
    inner = parse_url(href) if href else None
    return recognize(inner) if inner is not None and inner.domain in DOMAINS else None


def _numeric_id(segs: list[str], query: str) -> str | None:
    """The numeric id of a watch, video.php, reel or /page/videos/ URL."""
    first = segs[0].lower()
    n = len(segs)
    if first == "watch" or first == "video.php" or (first == "video" and n >= 2 and segs[1] in ("video.php", "embed")):
        q = query_params(query)
        return q.get("v") or q.get("video_id")
    if first in ("reel", "reels") and n >= 2:
        return segs[1]
    if n >= 3 and segs[1] == "videos":
        return next((seg for seg in segs[2:5] if is_num(seg)), None)
    return None


def recognize(url: VideoURL) -> Found | None:
    """The numeric video id (or the short code) and its page."""
    segs = url.segments
    if url.domain == "fb.watch":
        code = segs[0] if segs else ""
        return (NAME, code, f"https://fb.watch/{code}/") if CODE.fullmatch(code) else None
    if not segs:
        return None
    first = segs[0].lower()
    if first == "plugins" and len(segs) >= 2 and segs[1] in ("video.php", "post.php"):
        return _plugin(query_params(url.query).get("href", ""))
    if first == "share" and len(segs) >= 3 and segs[1] in ("v", "r") and CODE.fullmatch(segs[2]):
        code = f"share/{segs[1]}/{segs[2]}"
        return NAME, code, f"https://www.facebook.com/{code}/"
    vid = _numeric_id(segs, url.query)
    if not is_num(vid):
        return None
    return NAME, vid, f"https://www.facebook.com/watch/?v={vid}"  # type: ignore[return-value]


_GONE = re.compile(r"(?i)this content isn(?:'|’)t available (?:right now|at the moment)"
                   r"|this video (?:isn(?:'|’)t|is no longer) available|the link you followed may be broken")
_LOGIN = re.compile(r'(?i)>you must log in to continue|id="login_form"|id="loginbutton"|<title>log in to facebook')
_THROTTLED = re.compile(r"(?i)you(?:'|’)(?:re|ve been) temporarily blocked|going too fast")
_VIDEO = re.compile(r'(?i)<meta[^>]+property="og:video|"playable_url"')


def read_page(status: int, text: str) -> Classification | None:
    """Gone wording, a login wall or a rate limit (blocked), or a page with the video in it (ok)."""
    found = _THROTTLED.search(text)
    if found:
        return Classification(Outcome.BLOCKED, f"Facebook: {found.group(0)} (rate limit)")
    found = _GONE.search(text)
    if found:
        return Classification(Outcome.GONE, f"Facebook: {found.group(0)}")
    if _VIDEO.search(text):
        return Classification(Outcome.OK, "Facebook page plays the video")
    if _LOGIN.search(text):
        return Classification(Outcome.BLOCKED, "Facebook: login required to see the page (login wall)")
    return wall_page(text)


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """Facebook is not asked by oEmbed: nothing."""
    return None
