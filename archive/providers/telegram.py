"""Telegram: a public channel's post (t.me/channel/123, the /s/ preview, and post comments)."""

from __future__ import annotations

import re

from archive.providers.base import Found, VideoURL, is_num

NAME = "telegram"
DOMAINS = ("t.me", "telegram.me", "telegram.dog")
HINTS = ("t.me", "telegram")

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
