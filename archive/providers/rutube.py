"""Rutube: video, private, Shorts, live and embed pages.

Private videos (?p=KEY) keep their key in canonical_url: without it the public page is a 404 and the video
would look gone. Old numeric embed ids are known only to the embed player, so that is their page.

Asked: oEmbed, and the video API yt-dlp reads (/api/video/ID/, the private key passed on), which answers 404
{"detail": "Not found."} for a video that is not there and, for one that is, a JSON object whose is_deleted,
is_hidden and restrictions.country.is_allowed say removed, hidden (private) or geo-blocked.
"""

from __future__ import annotations

import re

from archive.providers.base import CODE, Found, VideoURL, is_num, load_json, oembed_answer, query_params
from archive.status import Classification, Outcome, wall_page

NAME = "rutube"
DOMAINS = ("rutube.ru",)
HINTS = ("rutube",)
OEMBED = "https://rutube.ru/api/oembed/"
PAGE = "https://rutube.ru/api/video/{id}/{query}"

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


def _detail(data: dict[str, object]) -> str:
    """The API's own words: its detail string, or a detail object's name and description."""
    detail = data.get("detail")
    if isinstance(detail, dict):
        return " ".join(str(detail.get(k) or "") for k in ("name", "description")).strip()
    return str(detail or "")


def read_page(status: int, text: str) -> Classification | None:
    """404: gone; 200: the video's flags (deleted, hidden, not allowed in this country) or ok."""
    data = load_json(text)
    if not isinstance(data, dict):
        return wall_page(text)
    if status in (404, 410):
        return Classification(Outcome.GONE, f"Rutube API {status}: {_detail(data) or 'not found'}")
    if not (200 <= status < 300):
        return None
    if data.get("is_deleted"):
        return Classification(Outcome.REMOVED, "Rutube: the video is deleted (is_deleted)")
    if data.get("is_hidden"):
        return Classification(Outcome.PRIVATE, "Rutube: the video is hidden (is_hidden)")
    country = (data.get("restrictions") or {}).get("country") if isinstance(data.get("restrictions"), dict) else None
    if isinstance(country, dict) and country.get("is_allowed") is False:
        return Classification(Outcome.GEO_BLOCKED, "Rutube: not allowed in this country")
    if data.get("id") or data.get("title"):
        return Classification(Outcome.OK, "Rutube API: the video is there")
    return None


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """200: there; 404: gone."""
    return oembed_answer(status, body)
