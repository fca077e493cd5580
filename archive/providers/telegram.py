"""Telegram: a public channel's post (t.me/channel/123, the /s/ preview, and post comments); what it says.

The post's own page (t.me/channel/123) answers 200 with the channel's preview whether the post is there or
not, so it says nothing. Asked instead: the post's embed widget (?embed=1, what yt-dlp's TelegramEmbedIE
reads), which holds the message (a div with data-post="channel/123") when the post is there and
<div class="tgme_widget_message_error">Post not found</div> when it was deleted. Telegram has no oEmbed.
"""

from __future__ import annotations

import html
import re

from archive.providers.base import Found, VideoURL, is_num
from archive.status import Classification, Outcome, availability_wording, wall_page

NAME = "telegram"
DOMAINS = ("t.me", "telegram.me", "telegram.dog")
# Hosts (and their subdomains) whose pages render client-side, captured in a browser in auto mode:
# Telegram Web is an app; t.me's previews are plain HTML and need no browser.
RENDERED_HOSTS = ("web.telegram.org",)
HINTS = ("t.me", "telegram")
OEMBED = None
PAGE = "https://t.me/{id}?embed=1&mode=tme"

_CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_RESERVED = frozenset({
    "joinchat", "addstickers", "addemoji", "addtheme", "addlist", "share", "proxy", "socks", "setlanguage",
    "login", "boost", "contact", "invoice", "confirmphone", "iv", "bg", "s", "c",
})


def recognize(url: VideoURL) -> Found | None:
    """"channel/post" (lower-case channel, post number without leading zeros) and its t.me page."""
    segs = url.segments
    if segs and segs[0] == "s":
        segs = segs[1:]
    if len(segs) not in (2, 3) or not _CHANNEL.fullmatch(segs[0]):
        return None
    channel = segs[0].lower()
    if channel in _RESERVED or not all(is_num(seg) for seg in segs[1:]):
        return None
    post = str(int(segs[-1]))
    return NAME, f"{channel}/{post}", f"https://t.me/{channel}/{post}"


_ERROR = re.compile(r'(?s)<div[^>]+class="[^"]*\btgme_widget_message_error\b[^"]*"[^>]*>(.*?)</div>')
_POST = re.compile(r'<div[^>]+class="[^"]*\btgme_widget_message\b[^"]*"[^>]*\bdata-post="([^"]+)"')


def read_page(status: int, text: str) -> Classification | None:
    """The embed widget's error ("Post not found": gone), or ok when it holds the message."""
    if not (200 <= status < 300):
        return None
    error = _ERROR.search(text)
    if error:
        words = html.unescape(re.sub(r"<[^>]+>", " ", error.group(1))).strip()
        if "not found" in words.lower():
            return Classification(Outcome.GONE, f"Telegram embed: {words[:200]}")
        verdict = availability_wording(words)
        return Classification(verdict.outcome, f"Telegram embed: {words[:200]}") if verdict else None
    post = _POST.search(text)
    if post:
        return Classification(Outcome.OK, f"Telegram embed shows post {post.group(1)}")
    return wall_page(text)


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """Telegram has no oEmbed: nothing."""
    return None
