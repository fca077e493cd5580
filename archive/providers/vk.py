"""VK: video and clip pages (owner_id), the video_ext.php player and ?z=video... overlays; what it says.

Asked: the video page (VK has no public oEmbed), which answers 200 and says why a video will not play in
the messages yt-dlp's VKIE looks for (extractor/vk.py, ERRORS): removed at the copyright holder's request,
deleted, the author blocked, not available in your region, log in (private), access denied; "temporarily
unavailable" says nothing. Its video pages of today show a stub instead of the player, one sentence alone in its
element ("Это видео удалено", "Видеозапись заблокирована", "Сообщество заблокировано", "Это видео недоступно в
вашем регионе"): read only as a whole text node, so a video whose title or comments quote one is not taken for
gone. The video_ext.php player says the same in its #video_ext_msg. A bot check sends us to /challenge.html.
"""

from __future__ import annotations

import re

from archive.providers.base import Found, VideoURL, is_num, query_params
from archive.status import Classification, Outcome, availability_wording, wall_page
from archive.status.text import inline_text

NAME = "vk"
DOMAINS = ("vk.com", "vk.ru", "vkvideo.ru")
HINTS = ("vk.", "vkvideo")
OEMBED = None
PAGE = "{url}"

_PATH = re.compile(r"/(?:video|clip)(-?\d+_\d+)(?=/|$)")
_Z = re.compile(r"(?:video|clip)(-?\d+_\d+)")


def recognize(url: VideoURL) -> Found | None:
    """The owner_video id ("-1_2") and its vk.com page."""
    vid = None
    if url.path.lower() == "/video_ext.php":
        q = query_params(url.query)
        oid, num = q.get("oid", ""), q.get("id", "")
        if is_num(oid.removeprefix("-")) and is_num(num):
            vid = f"{oid}_{num}"
    else:
        match = _PATH.search(url.path)
        if match:
            vid = match.group(1)
        elif url.query:
            match = _Z.search(query_params(url.query).get("z", ""))
            vid = match.group(1) if match else None
    if vid is None:
        return None
    return NAME, vid, f"https://vk.com/video{vid}"


_SIGNS: list[tuple[re.Pattern[str], Outcome | None, str]] = [(re.compile(p, re.S), o, d) for p, o, d in (
    (r"<!>Видео временно недоступно", None, ""),
    (r">Видеозапись .*? была изъята из публичного доступа в связи с обращением правообладателя\.<",
     Outcome.REMOVED, "removed at the copyright holder's request"),
    (r">The video .*? was removed from public access by request of the copyright holder\.<",
     Outcome.REMOVED, "removed at the copyright holder's request"),
    (r"<!>This video is no longer available, because it has been deleted\.", Outcome.REMOVED, "deleted"),
    (r"<!>Видеозапись недоступна, так как её автор был заблокирован\.", Outcome.ACCOUNT_TERMINATED,
     "the author was blocked"),
    (r"<!>This video is no longer available, because its author has been blocked\.",
     Outcome.ACCOUNT_TERMINATED, "the author was blocked"),
    (r"<!>The video .+? is not available in your region\.", Outcome.GEO_BLOCKED, "not available in this region"),
    (r"<!>Please log in or <", Outcome.PRIVATE, "only for logged-in users"),
    (r"<!>Access denied", Outcome.PRIVATE, "access denied"),
    (r"/challenge\.html", Outcome.BLOCKED, "a bot check (challenge page)"),
)]
_VIDEO = r"(?:это |данное )?(?:видео|видеозапись|клип)"
_STUBS: list[tuple[re.Pattern[str], Outcome, str]] = [
    (re.compile(rf"(?:>|<!>)\s*(?:{p})[.!]?\s*(?:<|$)", re.I), o, d) for p, o, d in (
        (rf"{_VIDEO}\s+(?:был[аио]?\s+)?удал[её]н[аоы]?(?:\s+(?:автором|владельцем))?"
         r"|(?:this )?(?:video|clip) (?:has been|was) deleted(?: by (?:its|the) (?:author|owner))?",
         Outcome.REMOVED, "deleted"),
        (rf"{_VIDEO}\s+(?:был[аио]?\s+)?заблокирован[аоы]?|(?:this )?(?:video|clip) (?:has been|was) blocked",
         Outcome.REMOVED, "blocked"),
        (r"(?:сообщество|страница(?: пользователя)?|автор(?: видео)?)\s+(?:был[аио]?\s+)?(?:заблокирован[ао]?"
         r"|удал[её]н[ао]?)|(?:this )?(?:community|page|profile) (?:has been|was) (?:blocked|deleted)",
         Outcome.ACCOUNT_TERMINATED, "the author's page or community was blocked or deleted"),
        (rf"{_VIDEO}\s+недоступн[ао]\s+в\s+ваш(?:ей|ем)\s+(?:стране|регионе)"
         r"|(?:this )?(?:video|clip) is not available in your (?:country|region)",
         Outcome.GEO_BLOCKED, "not available in this region"),
    )]
_MESSAGE = re.compile(r'(?s)<div[^>]+(?:class="video_layer_message"|id="video_ext_msg")[^>]*>(.+?)</div>')


def read_page(status: int, text: str) -> Classification | None:
    """The first of VK's messages the page holds, its stub, or the video layer's message read as plain wording."""
    for pattern, outcome, detail in _SIGNS:
        if pattern.search(text):
            return Classification(outcome, f"VK: {detail}") if outcome else None
    for pattern, outcome, detail in _STUBS:
        stub = pattern.search(text)
        if stub:
            return Classification(outcome, f"VK: {detail} ({inline_text(stub.group(0).strip('<>!'))})")
    message = _MESSAGE.search(text)
    if message:
        return availability_wording(inline_text(message.group(1)))
    return wall_page(text)


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """VK has no oEmbed: nothing."""
    return None
