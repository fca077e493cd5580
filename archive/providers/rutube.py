"""Rutube: video, private, Shorts, live and embed pages.

Private videos (?p=KEY) keep their key in canonical_url: without it the public page is a 404 and the video
would look gone. Old numeric embed ids are known only to the embed player, so that is their page.
"""

from __future__ import annotations

import re

from archive.providers.base import CODE, Found, VideoURL, is_num, query_params

NAME = "rutube"
DOMAINS = ("rutube.ru",)
HINTS = ("rutube",)

_HEX32 = re.compile(r"[0-9a-f]{32}")


def _candidate(segs: list[str]) -> tuple[str | None, bool]:
    """(the id as written in the path, whether the path says the video is private)."""
    s = [seg.lower() for seg in segs[:4]]
    if s[:2] == ["video", "private"] and len(s) > 2:
        return s[2], True
    if s[:2] in (["video", "embed"], ["live", "video"], ["play", "embed"]) and len(s) > 2:
        return s[2], False
    if s[:1] in (["video"], ["shorts"], ["embed"]) and len(s) > 1:
        return s[1], False
    return None, False


def recognize(url: VideoURL) -> Found | None:
    """The 32-hex (or old numeric) id and its page, private key included."""
    candidate, private = _candidate(url.segments)
    if not candidate:
        return None
    key = query_params(url.query).get("p") if url.query else None
    if _HEX32.fullmatch(candidate):
        if key and CODE.fullmatch(key):
            canonical = f"https://rutube.ru/video/private/{candidate}/?p={key}"
        else:
            canonical = f"https://rutube.ru/video/{candidate}/"
        return NAME, candidate, canonical
    if is_num(candidate) and not private:  # old numeric embed ids: only the embed player knows them
        return NAME, candidate, f"https://rutube.ru/play/embed/{candidate}"
    return None
