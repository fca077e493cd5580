"""TikTok: @user/video pages, embeds, the player, and vm./vt./t/ short links.

Short links cannot be resolved offline: they are kept as videos whose id is the short code.

Asked: oEmbed (200; 400 with {"code": 400, "message": "Something went wrong"} for a video it will not
describe, which says nothing) and the video page, which answers 200 and carries the video's state in its
__UNIVERSAL_DATA_FOR_REHYDRATION__ script (__DEFAULT_SCOPE__ / webapp.video-detail / statusCode, what yt-dlp
reads): 0 there, 10216 a private post, 10222 a private account (yt-dlp: "You do not have permission to view
this post"). 10204 is TikTok's catch-all, told apart by its statusMsg: "item doesn't exist" is gone,
"...status_deleted" removed, "cross_border_violation..." withheld in this country; with any other message (often
none) yt-dlp reads it as "Your IP address is blocked from accessing this post": we could not tell (blocked).
A captcha ("Verify to continue") is a bot check.
"""

from __future__ import annotations

import re

from archive.providers.base import CODE, Found, VideoURL, is_num, json_after, oembed_answer
from archive.status import Classification, Outcome, wall_page

NAME = "tiktok"
DOMAINS = ("tiktok.com",)
# Hosts (and their subdomains) whose pages render client-side, captured in a browser in auto mode:
# videos' pages are built by scripts (the HTML holds a JSON state, not the text).
RENDERED_HOSTS = ("tiktok.com",)
HINTS = ("tiktok",)
OEMBED = "https://www.tiktok.com/oembed"
PAGE = "{url}"

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


_DATA = re.compile(r'<script[^>]+id="__UNIVERSAL_DATA_FOR_REHYDRATION__"[^>]*>\s*(?=\{)')
_CODES = {10216: (Outcome.PRIVATE, "the post is private"), 10222: (Outcome.PRIVATE, "the account is private")}
# 10204's statusMsg, as TikTok writes it -> what it says; any other message: this IP address is blocked.
_NOT_AVAILABLE = (("doesn't exist", Outcome.GONE), ("status_deleted", Outcome.REMOVED),
                  ("cross_border", Outcome.GEO_BLOCKED))
_CAPTCHA = re.compile(r"(?i)verify to continue|captcha-verify|tiktok-verify-page")


def read_page(status: int, text: str) -> Classification | None:
    """The video detail's statusCode (and statusMsg); a captcha page is blocked."""
    if _CAPTCHA.search(text):
        return Classification(Outcome.BLOCKED, "TikTok answered with a captcha (verify to continue)")
    data = json_after(text, _DATA)
    detail = ((data or {}).get("__DEFAULT_SCOPE__") or {}).get("webapp.video-detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("statusCode"), int):
        return wall_page(text)
    code, words = detail["statusCode"], str(detail.get("statusMsg") or "")
    if code == 0 and (detail.get("itemInfo") or {}).get("itemStruct"):
        return Classification(Outcome.OK, "TikTok statusCode 0: the video is there")
    if code in _CODES:
        outcome, meaning = _CODES[code]
        return Classification(outcome, f"TikTok statusCode {code}: {words or meaning}")
    if code == 10204:
        return _not_available(words)
    return None


def _not_available(words: str) -> Classification:
    """statusCode 10204 by its statusMsg: gone, removed, withheld here, or (yt-dlp's reading) this IP is blocked."""
    for fragment, outcome in _NOT_AVAILABLE:
        if fragment in words.lower():
            return Classification(outcome, f"TikTok statusCode 10204: {words[:200]}")
    return Classification(Outcome.BLOCKED, f"TikTok statusCode 10204 ({words[:200] or 'no message'}): this IP "
                                           "address is blocked from the post")


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """200: there; 404: gone; 400 ("Something went wrong") and 403: nothing."""
    return oembed_answer(status, body)
