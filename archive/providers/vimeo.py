"""Vimeo: public, unlisted (with their hash), channel, group, album, on-demand and review pages, and the player.

Unlisted videos (vimeo.com/ID/HASH, player.vimeo.com/video/ID?h=HASH) keep their hash in canonical_url:
without it the public page is a 404 and the video would look gone.

Asked: oEmbed (200; 404 both for a video that is gone and for one restricted to some embedding domains, so
404 says nothing there; 403 for private ones) and the video page, which is a 404 for a video that is gone
and says "private", "protected by a password" or "log in" in its title for the others. A 403 or 429 is what
yt-dlp's vimeo.py reads as a block of our TLS fingerprint or data-centre address, and a "verify" page is a
bot check: blocked. "Because of its privacy settings, this video cannot be played here" is an embed
restricted to other sites (yt-dlp's referer hint), not a video gone.

yt-dlp is handed the player (player.vimeo.com/video/ID, ?h=HASH for an unlisted one): on vimeo.com/ID it asks
Vimeo's API, which it does only logged in (yt-dlp issues #13822, #15281, #17631), while the player page carries
the config with the media files anonymously.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from archive.providers.base import Found, VideoURL, is_num, oembed_answer, query_params
from archive.status import Classification, Outcome, availability_wording, wall_page

NAME = "vimeo"
DOMAINS = ("vimeo.com",)
HINTS = ("vimeo",)
OEMBED = "https://vimeo.com/api/oembed.json"
PAGE = "{url}"

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


def ytdlp_url(video_id: str, canonical: str) -> str:
    """The player page yt-dlp reads without an account, with the unlisted hash canonical_url keeps."""
    segs = urlsplit(canonical).path.strip("/").split("/")
    return f"https://player.vimeo.com/video/{video_id}" + (f"?h={segs[1]}" if len(segs) > 1 else "")


_TITLE = re.compile(r"(?is)<title[^>]*>(.*?)</title>")
_PRIVATE = re.compile(r"(?i)private video|this video is private|protected by a password|password[- ]protected"
                      r"|log in to watch|only logged[- ]in users")


def read_page(status: int, text: str) -> Classification | None:
    """Private, password or login pages, Vimeo's own "does not exist", and bot checks; a 404 is left to HTTP."""
    wall = wall_page(text)
    if wall is not None:
        return wall
    if not (200 <= status < 300):
        return None
    title = _TITLE.search(text)
    words = title.group(1).strip() if title else ""
    if _PRIVATE.search(words):
        return Classification(Outcome.PRIVATE, f"Vimeo: {words[:200]}")
    if "does not exist" in words.lower() or "page not found" in words.lower():
        return availability_wording("this video does not exist")
    return None


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """200: there; 404 (gone, or restricted to other domains) and 403 (private): nothing."""
    return oembed_answer(status, body, not_found_is_gone=False)
