"""Twitter / X: a status (and its mirrors fxtwitter, vxtwitter, fixupx...) and the embed widget's ?id=."""

from __future__ import annotations

from archive.providers.base import Found, VideoURL, is_num, query_params

NAME = "twitter"
DOMAINS = ("twitter.com", "x.com", "fxtwitter.com", "vxtwitter.com", "fixupx.com", "fixvx.com")
HINTS = ("twitter", "x.com")


def recognize(url: VideoURL) -> Found | None:
    """The status id and its x.com page (a tweet that may carry a video)."""
    segs = url.segments
    vid = None
    if url.host == "platform.twitter.com":
        if url.path.endswith((".html", ".htm")) and "/embed/" in url.path:
            candidate = query_params(url.query).get("id", "")
            vid = candidate if is_num(candidate) else None
    elif len(segs) >= 3 and segs[1] in ("status", "statuses") and is_num(segs[2]):
        vid = segs[2]
    elif len(segs) >= 4 and segs[:3] == ["i", "web", "status"] and is_num(segs[3]):
        vid = segs[3]
    if vid is None:
        return None
    return NAME, vid, f"https://x.com/i/status/{vid}"
