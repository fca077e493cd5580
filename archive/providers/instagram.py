"""Instagram: posts, reels and IGTV by shortcode (also under a user's path)."""

from __future__ import annotations

from archive.providers.base import CODE, Found, VideoURL

NAME = "instagram"
DOMAINS = ("instagram.com", "instagr.am")
HINTS = ("instagr",)

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
