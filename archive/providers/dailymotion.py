"""Dailymotion: video pages, dai.ly short links, embeds and the player's ?video= parameter; what it says.

Asked: oEmbed (200, or 404 for a video that does not exist) and the player's metadata JSON
(/player/metadata/video/ID, what yt-dlp reads), which answers 200 with error.code for a video it will not
play; the codes' meanings are Dailymotion's access-error table (DM002 deleted, DM004 copyright, DM005
rejected, DM007 geo-restricted, DM008 explicit, DM010 private). Other codes (encoding in progress, a live
not started, embedding rules) say nothing about availability.
"""

from __future__ import annotations

import re

from archive.providers.base import Found, VideoURL, load_json, oembed_answer, query_params
from archive.status import Classification, Outcome, wall_page

NAME = "dailymotion"
DOMAINS = ("dailymotion.com", "dai.ly")
HINTS = ("dailymotion", "dai.ly")
OEMBED = "https://www.dailymotion.com/services/oembed"
PAGE = "https://www.dailymotion.com/player/metadata/video/{id}"

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


_CODES = {
    "DM002": (Outcome.REMOVED, "content deleted"),
    "DM004": (Outcome.REMOVED, "copyrighted content, access forbidden"),
    "DM005": (Outcome.REMOVED, "content rejected (terms of use or copyright)"),
    "DM007": (Outcome.GEO_BLOCKED, "geo-restricted by its owner"),
    "DM008": (Outcome.AGE_RESTRICTED, "explicit content"),
    "DM010": (Outcome.PRIVATE, "private content"),
}


def read_page(status: int, text: str) -> Classification | None:
    """The player metadata's error code, or ok when it describes a playable video."""
    data = load_json(text)
    if not isinstance(data, dict):
        return wall_page(text)
    error = data.get("error")
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        title = str(error.get("title") or error.get("raw_message") or "")
        if code in _CODES:
            outcome, detail = _CODES[code]
            return Classification(outcome, f"Dailymotion {code}: {title or detail}")
        return None  # encoding in progress, live not started, embedding rules...: not about availability
    if 200 <= status < 300 and (data.get("title") or data.get("qualities")):
        return Classification(Outcome.OK, "Dailymotion metadata without an error")
    return None


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """200: there; 404: gone; 403 (private or geo-restricted): nothing."""
    return oembed_answer(status, body)
