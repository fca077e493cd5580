"""OK (Odnoklassniki): video, embed and live pages, and the old /dk?st.mvId= links; what it says.

Asked: the video page, which answers 200 and puts why a video will not play in the stub yt-dlp's
OdnoklassnikiIE reads (extractor/odnoklassniki.py, vp_video_stub_txt): "Video has not been found", "The
author of this video has not been found or is blocked", "Video is blocked"...; "Access to this video is
restricted" is private.
"""

from __future__ import annotations

import re

from archive.providers.base import Found, VideoURL, is_num, query_params
from archive.status import Classification, Outcome, availability_wording, wall_page
from archive.status.text import inline_text

NAME = "ok"
DOMAINS = ("ok.ru", "odnoklassniki.ru")
HINTS = ("ok.ru", "odnoklassniki")
OEMBED = None
PAGE = "{url}"


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


_STUB = re.compile(r'(?s)<[^>]+class="[^"]*\bvp_video_stub_txt\b[^"]*"[^>]*>(.*?)</')


def read_page(status: int, text: str) -> Classification | None:
    """The stub's text read as availability wording; a restricted video is private."""
    stub = _STUB.search(text)
    if stub:
        return availability_wording(inline_text(stub.group(1)))
    if ">Access to this video is restricted</div>" in text:
        return Classification(Outcome.PRIVATE, "OK: access to this video is restricted")
    return wall_page(text)


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """OK is not asked by oEmbed: nothing."""
    return None
