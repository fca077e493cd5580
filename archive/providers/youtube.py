"""YouTube: watch, short (youtu.be), embed, Shorts, live and attribution links of one video id."""

from __future__ import annotations

import re

from archive.providers import direct
from archive.providers.base import Found, VideoURL, parse_url, query_params

NAME = "youtube"
DOMAINS = ("youtube.com", "youtu.be", "youtube-nocookie.com")
HINTS = ("youtu",)

_ID = re.compile(r"([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])")
_NOT_IDS = frozenset({"videoseries", "live_stream"})  # /embed/videoseries?list=..., /embed/live_stream?channel=


def _attribution(inner: str) -> Found | None:
    """The video an attribution_link's `u` (a path on youtube.com) points to."""
    if not inner.startswith("/"):
        return None
    url = parse_url("https://www.youtube.com" + inner)
    return (recognize(url) or direct.recognize(url)) if url else None


def recognize(url: VideoURL) -> Found | None:
    """The 11-character video id and its watch page."""
    segs = url.segments
    if url.domain == "youtube-nocookie.com" and segs[:1] != ["embed"]:
        return None
    if url.domain == "youtu.be":
        candidate = segs[0] if segs else ""
    elif not segs:
        return None
    else:
        first = segs[0].lower()
        if first in ("watch", "watch_popup"):
            candidate = segs[1] if len(segs) > 1 else query_params(url.query).get("v", "")
        elif first in ("embed", "shorts", "live", "v", "e") and len(segs) > 1:
            candidate = segs[1]
            if candidate.lower() in _NOT_IDS:
                return None
        elif first == "attribution_link":
            return _attribution(query_params(url.query).get("u", ""))
        else:
            return None
    match = _ID.match(candidate)
    if not match:
        return None
    vid = match.group(1)
    return NAME, vid, f"https://www.youtube.com/watch?v={vid}"
