"""Vimeo: public, unlisted (with their hash), channel, group, album, on-demand and review pages, and the player.

Unlisted videos (vimeo.com/ID/HASH, player.vimeo.com/video/ID?h=HASH) keep their hash in canonical_url:
without it the public page is a 404 and the video would look gone.
"""

from __future__ import annotations

import re

from archive.providers.base import Found, VideoURL, is_num, query_params

NAME = "vimeo"
DOMAINS = ("vimeo.com",)
HINTS = ("vimeo",)

_HASH = re.compile(r"[0-9a-f]{6,}")


def _id_and_key(segs: list[str]) -> tuple[str | None, str | None]:
    """(video id, unlisted hash) from a path on vimeo.com."""
    n = len(segs)
    first = segs[0].lower()
    if is_num(first):
        return first, (segs[1] if n > 1 else None)
    if first == "channels" and n >= 3 and is_num(segs[2]):
        return segs[2], None
    if first == "groups" and n >= 4 and segs[2] == "videos" and is_num(segs[3]):
        return segs[3], None
    if first in ("album", "showcase") and n >= 4 and segs[2] == "video" and is_num(segs[3]):
        return segs[3], None
    if first in ("video", "videos") and n >= 2 and is_num(segs[1]):
        return segs[1], None
    if first == "ondemand" and n >= 3 and is_num(segs[2]):
        return segs[2], None
    if n >= 3 and segs[1] == "review" and is_num(segs[2]):
        return segs[2], (segs[3] if n > 3 else None)
    return None, None


def recognize(url: VideoURL) -> Found | None:
    """The numeric video id; its page keeps an unlisted video's hash."""
    segs = url.segments
    vid, key = None, None
    if url.host == "player.vimeo.com":
        if len(segs) >= 2 and segs[0] == "video" and is_num(segs[1]):
            vid, key = segs[1], query_params(url.query).get("h")
    elif segs:
        vid, key = _id_and_key(segs)
    if vid is None:
        return None
    canonical = f"https://vimeo.com/{vid}"
    if key and _HASH.fullmatch(key):
        canonical += f"/{key}"
    return NAME, vid, canonical
