"""Dailymotion: video pages, dai.ly short links, embeds and the player's ?video= parameter."""

from __future__ import annotations

import re

from archive.providers.base import Found, VideoURL, query_params

NAME = "dailymotion"
DOMAINS = ("dailymotion.com", "dai.ly")
HINTS = ("dailymotion", "dai.ly")

_ID = re.compile(r"[A-Za-z0-9]+")
_PLAYER = re.compile(r"/player(?:/[\w-]+)?\.html")


def _raw_id(url: VideoURL) -> str | None:
    """The path or query part that holds the id (possibly followed by _title)."""
    segs = url.segments
    n = len(segs)
    if url.domain == "dai.ly":
        return segs[0] if n else None
    if n >= 2 and segs[0] == "video":
        return segs[1]
    if n >= 3 and segs[0] in ("embed", "swf", "crawler") and segs[1] == "video":
        return segs[2]
    if n == 2 and segs[0] == "swf":
        return segs[1]
    if _PLAYER.fullmatch(url.path):
        return query_params(url.query).get("video")
    return None


def recognize(url: VideoURL) -> Found | None:
    """The alphanumeric video id (without the title slug) and its video page."""
    raw = _raw_id(url)
    if not raw:
        return None
    vid = raw.split("_", 1)[0]
    if not _ID.fullmatch(vid):
        return None
    return NAME, vid, f"https://www.dailymotion.com/video/{vid}"
