"""YouTube: watch, short (youtu.be), embed, Shorts, live and attribution links of one video id; what it says.

Asked: oEmbed (200 for a public video, 404 for one that is gone; 401 for private videos *and* for public ones
whose owner disabled embedding or that are age-gated, so 401/403 say nothing), and the watch page, which
answers 200 whatever happened and says it in its player response's playabilityStatus: OK, ERROR (gone,
with the reason: removed by the uploader, terms of service, copyright claim, account terminated),
LOGIN_REQUIRED (private, age check, or "Sign in to confirm you're not a bot": a bot check), UNPLAYABLE
(geo-blocked, or "This content isn't available, try again later": the session is rate-limited),
AGE_CHECK_REQUIRED / AGE_VERIFICATION_REQUIRED / CONTENT_CHECK_REQUIRED (age-gated: still there). A
/sorry/index captcha ("unusual traffic from your computer network", HTTP 429) is a bot check. Wording from
yt-dlp's extractor/youtube/_video.py and the reasons users report.
"""

from __future__ import annotations

import re
from typing import Any

from archive.providers.base import Found, VideoURL, json_after, oembed_answer, parse_url, query_params
from archive.providers.direct import recognize as recognize_direct
from archive.status import Classification, Outcome, availability_wording, wall_page

NAME = "youtube"
DOMAINS = ("youtube.com", "youtu.be", "youtube-nocookie.com")
HINTS = ("youtu",)
OEMBED = "https://www.youtube.com/oembed"
PAGE = "{url}"  # the watch page

_ID = re.compile(r"([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])")
_NOT_IDS = frozenset({"videoseries", "live_stream"})  # /embed/videoseries?list=..., /embed/live_stream?channel=


def _attribution(inner: str) -> Found | None:
    """The video an attribution_link's `u` (a path on youtube.com) points to."""
    if not inner.startswith("/"):
        return None
    url = parse_url("https://www.youtube.com" + inner)
    return (recognize(url) or recognize_direct(url)) if url else None


def recognize(url: VideoURL) -> Found | None:
    """The 11-character video id and its watch page."""
    segs = url.segments
    if url.domain == "youtube-nocookie.com" and segs[:1] != ["embed"]:
        return None
    if url.domain == "youtu.be":
        candidate = segs[0] if segs else ""
    elif not segs:
        return None
    else:
        first = segs[0].lower()
        if first in ("watch", "watch_popup"):
            candidate = segs[1] if len(segs) > 1 else query_params(url.query).get("v", "")
        elif first in ("embed", "shorts", "live", "v", "e") and len(segs) > 1:
            candidate = segs[1]
            if candidate.lower() in _NOT_IDS:
                return None
        elif first == "attribution_link":
            return _attribution(query_params(url.query).get("u", ""))
        else:
            return None
    match = _ID.match(candidate)
    if not match:
        return None
    vid = match.group(1)
    return NAME, vid, f"https://www.youtube.com/watch?v={vid}"


_PLAYABILITY = re.compile(r'"playabilityStatus"\s*:\s*(?=\{)')
_ALIVE = {"OK": "playable", "LIVE_STREAM_OFFLINE": "an offline or scheduled live stream"}
_AGE = {"AGE_CHECK_REQUIRED", "AGE_VERIFICATION_REQUIRED", "CONTENT_CHECK_REQUIRED"}
_UNAVAILABLE = {"ERROR", "LOGIN_REQUIRED", "UNPLAYABLE"}


def _text(value: Any) -> str:
    """A YouTube text object (a string, {simpleText} or {runs: [{text}]}) as plain text."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("simpleText"), str):
            return value["simpleText"]
        runs = value.get("runs")
        if isinstance(runs, list):
            return "".join(run.get("text", "") for run in runs if isinstance(run, dict))
    return ""


def _reason(playability: dict[str, Any]) -> str:
    """The reason, the error screen's reason and its subreason, each once, joined."""
    renderer = ((playability.get("errorScreen") or {}).get("playerErrorMessageRenderer") or {})
    texts: list[str] = []
    for text in (_text(playability.get("reason")), _text(renderer.get("reason")), _text(renderer.get("subreason"))):
        text = text.strip()
        if text and text not in texts:
            texts.append(text)
    return ". ".join(t.rstrip(".") for t in texts)


def read_page(status: int, text: str) -> Classification | None:
    """What the watch (or embed) page's playabilityStatus says; a captcha page is blocked."""
    if not (200 <= status < 300) and status != 429:
        return None
    playability = json_after(text, _PLAYABILITY)
    if playability is None or not isinstance(playability.get("status"), str):
        return wall_page(text)
    state, reason = playability["status"], _reason(playability)
    if state in _ALIVE:
        return Classification(Outcome.OK, f"playabilityStatus {state}: {_ALIVE[state]}")
    if state in _AGE:
        return Classification(Outcome.AGE_RESTRICTED, f"playabilityStatus {state}" + (f": {reason}" * bool(reason)))
    if state not in _UNAVAILABLE:
        return None  # a status we do not know: do not guess
    verdict = availability_wording(reason) if reason else None
    if verdict is not None:
        return Classification(verdict.outcome, f"playabilityStatus {state}: {reason}")
    if state == "ERROR":  # YouTube's hard error for a video that is not there; its wording may be localized
        return Classification(Outcome.GONE, f"playabilityStatus ERROR: {reason or 'no reason given'}")
    return None  # LOGIN_REQUIRED or UNPLAYABLE with wording we do not know: do not guess


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """200: there; 404: gone; 401/403 (private, embedding disabled, age-gated): nothing."""
    return oembed_answer(status, body)
