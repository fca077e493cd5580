"""What any video provider's words, oEmbed answers and yt-dlp's error messages say of a video: the generic part.

One set of availability wordings (removed, private, account terminated, geo-blocked, age-restricted, gone,
anti-bot walls, rate limits) serves every provider's pages and yt-dlp messages; how each provider says it on
its own pages (YouTube's playabilityStatus, Dailymotion's error codes, VK's and OK's stubs...) lives in that
provider's module under archive.providers, which reads its pages with these.

YouTube's oEmbed answers 401 both for private videos and for public videos whose owner disabled embedding,
so 401/403 say nothing (None): calling them private would raise false alarms.
"""

from __future__ import annotations

import json
import re

from archive.status.outcomes import TRANSIENT, Classification, Outcome
from archive.status.text import fold_text

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
    (r"not a bot|not a robot|captcha|unusual traffic|content isn't available,? try again later|try again later"
     r"|rate[- ]?limit"
     r"|too many requests|tls fingerprint|your ip (?:address )?(?:may be|is|has been) blocked"
     r"|blocked by websense", Outcome.BLOCKED, "anti-bot answer or rate limit"),
    # geography and state blocking
    (r"not made this video available in your country|not available in your country|blocked it in your country"
     r"|not available from your location|geo[- ]?restrict|not available in your region|due to your location"
     r"|decision of the russian government|indian censorship|недоступн\w* в ваш(?:ей|ем) (?:стране|регионе)",
     Outcome.GEO_BLOCKED, "not available from this location"),
    # the account is gone
    (r"account associated with this video has been (?:terminated|closed)|account has been terminated"
     r"|uploader has closed their youtube account|its author has been blocked|автор был заблокирован"
     r"|author of this video has not been found or is blocked"
     r"|suspended account|account (?:is |has been |was )?suspended|account that no longer exists|^suspended$",
     Outcome.ACCOUNT_TERMINATED, "the uploader's account was terminated or closed"),
    # age gates: the video is still there
    (r"confirm your age|age[- ]restricted|inappropriate for some users|age[- ]verification|explicit content",
     Outcome.AGE_RESTRICTED, "age-restricted"),
    # taken down
    (r"removed by the (?:uploader|user|owner)|removed for violating|violat\w* (?:of )?youtube's"
     r"|terms of service|community guidelines|copyright claim|copyright grounds|copyrighted content"
     r"|removed from public access|изъята из публичного доступа|because it has been deleted"
     r"|content deleted|content rejected|has been removed|was removed"
     r"|(?:видео|видеозапись|клип)\s+(?:был[аио]?\s+)?(?:удал[её]н|заблокирован)|video (?:has been|was) deleted",
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


def availability_wording(text: str) -> Classification | None:
    """The verdict of the first wording rule `text` matches (None: no rule, or no verdict)."""
    return _match_wording(text)[1]


# --------------------------------------------------------------------------------------------------
# walls: pages a provider shows instead of the video when it will not answer us
# --------------------------------------------------------------------------------------------------

_WALLS = re.compile(
    r"unusual traffic from your computer network|/sorry/index|g-recaptcha|h-captcha|cf-challenge|cf_chl_opt"
    r"|<title>just a moment\.\.\.</title>|verify (?:you are|you're) (?:a )?human|confirm you(?:'|’)?re not a bot"
    r"|please wait while we verify|checking your browser|access to this page has been denied",
    re.I)


def wall_page(text: str) -> Classification | None:
    """blocked when a page is a captcha or bot check (Google's /sorry page, Cloudflare, reCAPTCHA), else None."""
    match = _WALLS.search(text or "")
    if match is None:
        return None
    return Classification(Outcome.BLOCKED, f"anti-bot page: {fold_text(match.group(0))[:80]}")


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
