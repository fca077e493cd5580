"""What video providers say of a video: their pages, their oEmbed answers and yt-dlp's error messages.

One set of availability wordings (removed, private, account terminated, geo-blocked, age-restricted, gone,
anti-bot walls) serves YouTube's playability reasons, other providers' pages and yt-dlp messages.

YouTube's oEmbed answers 401 both for private videos and for public videos whose owner disabled embedding,
so 401/403 say nothing (None): calling them private would raise false alarms.
"""

from __future__ import annotations

import json
import re
from typing import Any

from archive.status.outcomes import TRANSIENT, Classification, Outcome
from archive.status.text import fold_text, inline_text

# --------------------------------------------------------------------------------------------------
# Availability wording shared by YouTube pages, other providers' pages and yt-dlp messages
# --------------------------------------------------------------------------------------------------

# First match wins; None means "this says nothing about availability" and stops the search.
# Sources: yt-dlp 2026.10 extractor/common.py (raise_login_required, raise_geo_restricted, __check_blocked),
# extractor/youtube/_video.py (playability reasons, _is_agegated), vimeo.py, vk.py (ERRORS), odnoklassniki.py,
# dailymotion.py; the YouTube reason texts as users report them in yt-dlp and other projects' issues.
_WORDING: list[tuple[re.Pattern[str], Outcome | None, str]] = [(re.compile(p, re.I), o, d) for p, o, d in (
    # no verdict: states of a video that exists, and format problems
    (r"temporarily unavailable|временно недоступн", None, ""),
    (r"live event will begin|premieres? in|is not currently live|scheduled for|this live event", None, ""),
    (r"requested format is not available|drm protected|requires payment|this video is paid|purchase",
     None, ""),
    (r"playback on other websites has been disabled|embed-only video|cannot be played here", None, ""),
    (r"unsupported url", None, ""),
    # anti-bot answers, rate limits: we could not look
    (r"not a bot|not a robot|captcha|unusual traffic|content isn't available|rate[- ]?limit"
     r"|too many requests|tls fingerprint|your ip (?:address )?(?:may be|is|has been) blocked"
     r"|blocked by websense", Outcome.BLOCKED, "anti-bot answer or rate limit"),
    # geography and state blocking
    (r"not made this video available in your country|not available in your country|blocked it in your country"
     r"|not available from your location|geo[- ]?restrict|not available in your region|due to your location"
     r"|decision of the russian government|indian censorship|недоступн\w* в вашей стране",
     Outcome.GEO_BLOCKED, "not available from this location"),
    # the account is gone
    (r"account associated with this video has been (?:terminated|closed)|account has been terminated"
     r"|uploader has closed their youtube account|its author has been blocked|автор был заблокирован"
     r"|author of this video has not been found or is blocked",
     Outcome.ACCOUNT_TERMINATED, "the uploader's account was terminated or closed"),
    # age gates: the video is still there
    (r"confirm your age|age[- ]restricted|inappropriate for some users|age[- ]verification|explicit content",
     Outcome.AGE_RESTRICTED, "age-restricted"),
    # taken down
    (r"removed by the (?:uploader|user|owner)|removed for violating|violat\w* (?:of )?youtube's"
     r"|terms of service|community guidelines|copyright claim|copyright grounds|copyrighted content"
     r"|removed from public access|изъята из публичного доступа|because it has been deleted"
     r"|content deleted|content rejected|has been removed|was removed",
     Outcome.REMOVED, "taken down"),
    # private, login required
    (r"private video|video is private|private content|been granted access|only available for registered users"
     r"|protected by a password|password[- ]protected|access denied to video|access to this video is restricted"
     r"|members[- ]only|join this channel to get access|login required|log in to watch",
     Outcome.PRIVATE, "private or login required"),
    # gone, reason not given
    (r"video unavailable|this video (?:is|has become) (?:no longer )?(?:unavailable|not available)"
     r"|this video isn't available(?: anymore)?|does not exist|has not been found|no longer available",
     Outcome.GONE, "unavailable"),
)]


def _match_wording(text: str) -> tuple[bool, Classification | None]:
    """(whether a rule matched, its verdict): a matching rule may say "nothing about availability"."""
    normalized = fold_text(text)
    for pattern, outcome, detail in _WORDING:
        if pattern.search(normalized):
            return True, (Classification(outcome, f"{detail}: {normalized[:200]}") if outcome else None)
    return False, None


def _availability_wording(text: str) -> Classification | None:
    """The verdict of the first wording rule `text` matches (None: no rule, or no verdict)."""
    return _match_wording(text)[1]


# --------------------------------------------------------------------------------------------------
# classify_video_page
# --------------------------------------------------------------------------------------------------

_PLAYABILITY = re.compile(r'"playabilityStatus"\s*:\s*(?=\{)')
_YT_ALIVE = {"OK": "playable", "LIVE_STREAM_OFFLINE": "an offline or scheduled live stream"}
_YT_AGE = {"AGE_CHECK_REQUIRED", "AGE_VERIFICATION_REQUIRED", "CONTENT_CHECK_REQUIRED"}
_YT_UNAVAILABLE = {"ERROR", "LOGIN_REQUIRED", "UNPLAYABLE"}


def _yt_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("simpleText"), str):
            return value["simpleText"]
        runs = value.get("runs")
        if isinstance(runs, list):
            return "".join(run.get("text", "") for run in runs if isinstance(run, dict))
    return ""


def _youtube_playability(body: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for match in _PLAYABILITY.finditer(body):
        try:
            value, _ = decoder.raw_decode(body, match.end())
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("status"), str):
            return value
    return None


def _classify_youtube_page(body: str) -> Classification | None:
    playability = _youtube_playability(body)
    if playability is None:
        if re.search(r"unusual traffic from your computer network|/sorry/index", body):
            return Classification(Outcome.BLOCKED, "YouTube answered with a captcha page")
        return None
    status = playability["status"]
    renderer = ((playability.get("errorScreen") or {}).get("playerErrorMessageRenderer") or {})
    texts: list[str] = []
    for text in (_yt_text(playability.get("reason")), _yt_text(renderer.get("reason")),
                 _yt_text(renderer.get("subreason"))):
        text = text.strip()
        if text and text not in texts:
            texts.append(text)
    reason = ". ".join(t.rstrip(".") for t in texts)
    if status in _YT_ALIVE:
        return Classification(Outcome.OK, f"playabilityStatus {status}: {_YT_ALIVE[status]}")
    if status in _YT_AGE:
        return Classification(Outcome.AGE_RESTRICTED, f"playabilityStatus {status}" + (f": {reason}" * bool(reason)))
    if status not in _YT_UNAVAILABLE:
        return None  # a status we do not know: do not guess
    verdict = _availability_wording(reason) if reason else None
    if verdict is not None:
        return Classification(verdict.outcome, f"playabilityStatus {status}: {reason}")
    if status == "ERROR":
        # YouTube's hard error for a video that is not there; its wording may be localized.
        return Classification(Outcome.GONE, f"playabilityStatus ERROR: {reason or 'no reason given'}")
    return None  # LOGIN_REQUIRED or UNPLAYABLE with wording we do not know: do not guess


# Dailymotion's player metadata (https://www.dailymotion.com/player/metadata/video/<id>, what yt-dlp reads)
# carries error.code; meanings from Dailymotion's access-error table.
_DAILYMOTION_CODES = {
    "DM002": (Outcome.REMOVED, "content deleted"),
    "DM004": (Outcome.REMOVED, "copyrighted content, access forbidden"),
    "DM005": (Outcome.REMOVED, "content rejected (terms of use or copyright)"),
    "DM007": (Outcome.GEO_BLOCKED, "geo-restricted by its owner"),
    "DM008": (Outcome.AGE_RESTRICTED, "explicit content"),
    "DM010": (Outcome.PRIVATE, "private content"),
}


def _classify_dailymotion(body: str) -> Classification | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        title = str(error.get("title") or error.get("raw_message") or "")
        if code in _DAILYMOTION_CODES:
            outcome, detail = _DAILYMOTION_CODES[code]
            return Classification(outcome, f"Dailymotion {code}: {title or detail}")
        return None  # encoding in progress, live not started, embedding rules...: not about availability
    if data.get("title") or data.get("qualities"):
        return Classification(Outcome.OK, "Dailymotion metadata without an error")
    return None


# vk.com video pages: the messages yt-dlp's VKIE looks for (extractor/vk.py, ERRORS).
_VK_SIGNS: list[tuple[re.Pattern[str], Outcome | None, str]] = [(re.compile(p, re.S), o, d) for p, o, d in (
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
)]
_VK_MESSAGE = re.compile(r'(?s)<div[^>]+(?:class="video_layer_message"|id="video_ext_msg")[^>]*>(.+?)</div>')


def _classify_vk(body: str) -> Classification | None:
    for pattern, outcome, detail in _VK_SIGNS:
        if pattern.search(body):
            return Classification(outcome, f"VK: {detail}") if outcome else None
    message = _VK_MESSAGE.search(body)
    if message:
        return _availability_wording(inline_text(message.group(1)))
    return None


# ok.ru: the stub text yt-dlp's OdnoklassnikiIE reads (extractor/odnoklassniki.py).
_OK_STUB = re.compile(r'(?s)<[^>]+class="[^"]*\bvp_video_stub_txt\b[^"]*"[^>]*>(.*?)</')


def _classify_ok(body: str) -> Classification | None:
    stub = _OK_STUB.search(body)
    if stub:
        return _availability_wording(inline_text(stub.group(1)))
    if ">Access to this video is restricted</div>" in body:
        return Classification(Outcome.PRIVATE, "OK: access to this video is restricted")
    return None


_PAGE_CLASSIFIERS = {
    "youtube": _classify_youtube_page,
    "dailymotion": _classify_dailymotion,
    "vk": _classify_vk,
    "ok": _classify_ok,
}


def classify_video_page(provider: str, status: int, body_text: str) -> Classification | None:
    """What a video provider's page says of the video, for sites that answer 200 for videos that are gone.

    youtube: the watch (or embed) page's playabilityStatus; dailymotion: the player metadata JSON;
    vk: the video page or video_ext.php; ok: the video page. Vimeo and Rutube answer 404 for videos that are
    gone (classify_http covers them), so there is nothing page-specific to read. None: the page says nothing
    we can rely on (or the status is not 2xx: use classify_http).
    """
    if not body_text or not (200 <= status < 300):
        return None
    classifier = _PAGE_CLASSIFIERS.get(provider.lower())
    return classifier(body_text) if classifier else None


# --------------------------------------------------------------------------------------------------
# classify_oembed
# --------------------------------------------------------------------------------------------------

def classify_oembed(status: int, body: bytes | None, *, provider: str | None = None,
                    include_transient: bool = False) -> Classification | None:
    """What a provider's oEmbed endpoint says of a video.

    200 with a JSON object: ok. 404 and 410: gone, except for Vimeo, whose oEmbed also answers 404 for videos
    restricted to some embedding domains. 401 and 403: None - YouTube answers 401 for private videos *and*
    for public ones whose owner disabled embedding, so neither private nor ok would be honest. 429 and 5xx:
    None, or blocked / server_error with include_transient (the crawl stores the answer as the video's
    availability, so by default it only gets answers about availability).
    """
    if 200 <= status < 300:
        if body is None:
            return Classification(Outcome.OK, f"oEmbed HTTP {status}")
        try:
            data = json.loads(body)
        except ValueError:
            return None  # e.g. a bare "Forbidden" with 200: not an answer we can read
        return Classification(Outcome.OK, f"oEmbed HTTP {status}") if isinstance(data, dict) else None
    if status in (404, 410):
        if (provider or "").lower() == "vimeo":
            return None
        return Classification(Outcome.GONE, f"oEmbed HTTP {status}")
    if status == 451:
        return Classification(Outcome.GEO_BLOCKED, "oEmbed HTTP 451")
    if include_transient:
        if status == 429:
            return Classification(Outcome.BLOCKED, "oEmbed HTTP 429")
        if 500 <= status < 600:
            return Classification(Outcome.SERVER_ERROR, f"oEmbed HTTP {status}")
    return None


# --------------------------------------------------------------------------------------------------
# classify_ytdlp_error
# --------------------------------------------------------------------------------------------------

_YTDLP_PREFIX = re.compile(r"^(?:ERROR:\s*)?(?:\[[^\]]+\]\s*(?:[^\s:]+:\s+)?)?")
_HTTP_ERROR = re.compile(r"HTTP Error (\d{3})")
_NETWORK: list[tuple[re.Pattern[str], Outcome, str]] = [(re.compile(p, re.I), o, d) for p, o, d in (
    (r"Failed to resolve|Name or service not known|Temporary failure in name resolution|getaddrinfo failed"
     r"|nodename nor servname|No address associated with hostname|NameResolutionError|\[Errno -[235]\]",
     Outcome.DNS_ERROR, "host name does not resolve"),
    (r"timed out|TimeoutError|ReadTimeout|ConnectTimeout", Outcome.TIMEOUT, "no answer in time"),
    (r"Connection refused|Connection reset|Connection aborted|Network is unreachable|No route to host"
     r"|Failed to establish a new connection|Remote end closed connection|RemoteDisconnected|EOF occurred"
     r"|\bSSL\b|SSLError|CERTIFICATE_VERIFY_FAILED|bytes read|IncompleteRead|ProxyError|network error has occurred",
     Outcome.CONNECTION_ERROR, "connection failed"),
)]


def classify_ytdlp_error(message: str, *, include_transient: bool = False) -> Classification | None:
    """The availability a yt-dlp DownloadError / ExtractorError message names.

    removed, private, account_terminated, geo_blocked, age_restricted or gone (also for "HTTP Error 404/410"
    on the video's page or API). Anti-bot walls and rate limits ("Sign in to confirm you're not a bot") are
    blocked, never private. None when the message says nothing about availability (unsupported URL, a format
    problem, an extractor bug) and, unless include_transient, for network and server failures; with
    include_transient those are dns_error, timeout, connection_error, blocked (403, 429) or server_error (5xx).
    """
    text = message.strip().splitlines()[0] if message.strip() else ""
    text = _YTDLP_PREFIX.sub("", text, count=1)
    if not text:
        return None
    matched, verdict = _match_wording(text)
    if matched:
        if verdict is not None and verdict.outcome in TRANSIENT and not include_transient:
            return None
        return verdict
    http = _HTTP_ERROR.search(text)
    if http:
        code = int(http.group(1))
        if code in (404, 410):
            return Classification(Outcome.GONE, f"HTTP {code}: {text[:200]}")
        if code == 451:
            return Classification(Outcome.GEO_BLOCKED, f"HTTP 451: {text[:200]}")
        if not include_transient:
            return None
        if code in (403, 429):
            return Classification(Outcome.BLOCKED, f"HTTP {code}: {text[:200]}")
        if 500 <= code < 600:
            return Classification(Outcome.SERVER_ERROR, f"HTTP {code}: {text[:200]}")
        return None
    if include_transient:
        for pattern, outcome, detail in _NETWORK:
            if pattern.search(text):
                return Classification(outcome, f"{detail}: {text[:200]}")
    return None
