"""OK (Odnoklassniki): video, embed and live pages, and the old /dk?st.mvId= links."""

from __future__ import annotations

from archive.providers.base import Found, VideoURL, is_num, query_params

NAME = "ok"
DOMAINS = ("ok.ru", "odnoklassniki.ru")
HINTS = ("ok.ru", "odnoklassniki")


def recognize(url: VideoURL) -> Found | None:
    """The numeric video id and its ok.ru page."""
    segs = url.segments
    vid = None
    if len(segs) >= 2 and segs[0] in ("video", "videoembed", "live") and is_num(segs[1]):
        vid = segs[1]
    elif url.path == "/dk" and url.query:
        candidate = query_params(url.query).get("st.mvId", "")
        vid = candidate if is_num(candidate) else None
    if vid is None:
        return None
    return NAME, vid, f"https://ok.ru/video/{vid}"
