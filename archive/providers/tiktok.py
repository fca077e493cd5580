"""TikTok: @user/video pages, embeds, the player, and vm./vt./t/ short links.

Short links cannot be resolved offline: they are kept as videos whose id is the short code.
"""

from __future__ import annotations

import re

from archive.providers.base import CODE, Found, VideoURL, is_num

NAME = "tiktok"
DOMAINS = ("tiktok.com",)
HINTS = ("tiktok",)

_V = re.compile(r"(\d+)\.html")


def _short(url: VideoURL, segs: list[str]) -> Found | None:
    """A short link's code and the short link itself, when the URL is one (else None)."""
    if url.host in ("vm.tiktok.com", "vt.tiktok.com"):
        code = segs[0] if len(segs) == 1 else ""
        return (NAME, code, f"https://{url.host}/{code}/") if CODE.fullmatch(code) else None
    code = segs[1]
    return (NAME, code, f"https://www.tiktok.com/t/{code}/") if CODE.fullmatch(code) else None


def recognize(url: VideoURL) -> Found | None:
    """The numeric video id and its page (with the user when the URL names one)."""
    segs = url.segments
    n = len(segs)
    if url.host in ("vm.tiktok.com", "vt.tiktok.com") or (n == 2 and segs[0] == "t"):
        return _short(url, segs)
    vid, user = None, ""
    if n >= 3 and segs[0].startswith("@") and segs[1] == "video":
        vid, user = segs[2], segs[0][1:]
    elif n >= 2 and segs[0] == "embed":
        vid = segs[2] if segs[1] == "v2" and n >= 3 else segs[1]
    elif n >= 3 and segs[:2] in (["player", "v1"], ["share", "video"]):
        vid = segs[2]
    elif n >= 2 and segs[0] == "v":
        match = _V.fullmatch(segs[1])
        vid = match.group(1) if match else segs[1]
    if not is_num(vid):
        return None
    return NAME, vid, f"https://www.tiktok.com/@{user}/video/{vid}"  # type: ignore[return-value]
