"""What one check of a source found, and what a run of checks means for its status.

Pure logic: no network, no database. The checker (HTTP fetches), the crawl (yt-dlp errors) and the
scheduler call it.

Outcomes of one check fall in three classes:

* DEFINITIVE - the site says the thing is gone: gone, removed, private, account_terminated, geo_blocked,
  soft_404, redirected_away.
* TRANSIENT - we could not find out: dns_error, connection_error, timeout, server_error, blocked.
* ALIVE - it is there: ok, changed, age_restricted (age-gated content is still available).

Decisions taken here, and why:

* A redirect loop, or too many redirects, is a misbehaving server (or a cookie wall), not proof that the
  page was removed: it is ``server_error``, a transient outcome.
* A redirect within the same site to another path (a slug change, a moved article) is ``ok``; only the home
  page, the place where a nonexistent URL of the same site lands, a dedicated error page, a login page or
  another registrable domain (unless the path is kept: a domain move) count as evidence. Links through
  known shorteners (t.co, bit.ly, youtu.be...) are allowed to land on another domain.
* The probe (the site's answer for a random nonexistent URL) proves a soft 404 only when it got 200 and
  the page has the same title as the probe's answer and near-identical text (word-shingle Jaccard >= 0.9).
  The title test is what keeps pages of sites with heavy boilerplate (a short video page inside a big
  template) from looking like the site's not-found page.
* Not-found wording counts only in the title or the main heading (or, for plain text, the first lines), and
  only when it is most of that heading: an article *about* "404" errors is ok.
* YouTube's oEmbed answers 401 both for private videos and for public videos whose owner disabled
  embedding, so 401/403 say nothing (None): calling them private would raise false alarms.
* Definitive outcomes must come ``confirm_checks`` times in a row; different definitive reasons in a row
  all count. The reason recorded is the most specific one seen in the run (account_terminated > removed >
  private > geo_blocked > gone > soft_404 > redirected_away): a provider's own words beat a bare 404,
  which beats our heuristics.
* Transient outcomes must come ``transient_checks`` times in a row spanning ``transient_span``; the reason
  is the latest one. Any outcome of another class ends a run, so definitive, transient, definitive is two
  runs of one, never a vanishing.
* ``returned`` says "vanished once, came back": it stays until the source vanishes again (a later ok keeps
  it, and so does coming back from ``unreachable``). ``vanished_at`` keeps the time of the last vanishing.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, urlsplit

from archive.urls import TRACKING_PARAMS
from archive.vocab import SourceStatus, TransitionKind


class Outcome(StrEnum):
    """What one check found."""

    OK = "ok"
    GONE = "gone"
    REMOVED = "removed"
    PRIVATE = "private"
    ACCOUNT_TERMINATED = "account_terminated"
    GEO_BLOCKED = "geo_blocked"
    AGE_RESTRICTED = "age_restricted"
    SOFT_404 = "soft_404"
    REDIRECTED_AWAY = "redirected_away"
    DNS_ERROR = "dns_error"
    CONNECTION_ERROR = "connection_error"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    BLOCKED = "blocked"
    CHANGED = "changed"


class OutcomeClass(StrEnum):
    """How much one outcome says."""

    DEFINITIVE = "definitive"
    TRANSIENT = "transient"
    ALIVE = "alive"


DEFINITIVE = frozenset({Outcome.GONE, Outcome.REMOVED, Outcome.PRIVATE, Outcome.ACCOUNT_TERMINATED,
                        Outcome.GEO_BLOCKED, Outcome.SOFT_404, Outcome.REDIRECTED_AWAY})
TRANSIENT = frozenset({Outcome.DNS_ERROR, Outcome.CONNECTION_ERROR, Outcome.TIMEOUT, Outcome.SERVER_ERROR,
                       Outcome.BLOCKED})
ALIVE = frozenset({Outcome.OK, Outcome.CHANGED, Outcome.AGE_RESTRICTED})
ALERT_KINDS = frozenset({TransitionKind.VANISHED, TransitionKind.RETURNED, TransitionKind.CHANGED})

# Most specific first: the reason a vanishing is recorded with when a run mixes definitive outcomes.
_SPECIFICITY = (Outcome.ACCOUNT_TERMINATED, Outcome.REMOVED, Outcome.PRIVATE, Outcome.GEO_BLOCKED, Outcome.GONE,
                Outcome.SOFT_404, Outcome.REDIRECTED_AWAY)


def outcome_class(outcome: str) -> OutcomeClass:
    """definitive, transient or alive; ValueError for a word that is not an outcome."""
    value = Outcome(outcome)
    if value in DEFINITIVE:
        return OutcomeClass.DEFINITIVE
    if value in TRANSIENT:
        return OutcomeClass.TRANSIENT
    return OutcomeClass.ALIVE


@dataclass(frozen=True)
class Classification:
    """One check's outcome and a short line saying what showed it."""

    outcome: Outcome
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))

    @property
    def outcome_class(self) -> OutcomeClass:
        return outcome_class(self.outcome)


# --------------------------------------------------------------------------------------------------
# Text helpers: visible text, headings, fingerprints
# --------------------------------------------------------------------------------------------------

_HTML_HINT = re.compile(r"<(?:!doctype|html|head|body|title|div|p|h[1-6]|meta|script)\b", re.I)
_DROP_BLOCKS = re.compile(r"<(script|style|noscript|template|svg)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1\s*>", re.I | re.S)
_H2 = re.compile(r"<h2\b[^>]*>(.*?)</h2\s*>", re.I | re.S)
_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00a0": " ", "\u2011": "-"})


def _looks_like_html(text: str) -> bool:
    return bool(_HTML_HINT.search(text[:20000]))


def _inline_text(fragment: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", fragment))).strip()


def visible_text(body: str) -> str:
    """The text a reader sees: tags, scripts and styles dropped when the body is HTML."""
    if not _looks_like_html(body):
        return body
    text = _DROP_BLOCKS.sub(" ", body)
    text = re.sub(r"<(?:br|/p|/div|/h[1-6]|/li|/tr|/title)\b[^>]*>", "\n", text, flags=re.I)
    text = html.unescape(_TAG.sub(" ", text))
    return "\n".join(line for line in (_SPACE.sub(" ", raw).strip() for raw in text.splitlines()) if line)


def _title_of(body: str) -> str:
    if _looks_like_html(body):
        match = _TITLE.search(body)
        return _inline_text(match.group(1)) if match else ""
    for line in body.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def _headings(body: str) -> list[str]:
    """Title-and-heading-sized text: <title> and <h1> (first <h2> if no <h1>), or a text's first lines."""
    if _looks_like_html(body):
        cleaned = _DROP_BLOCKS.sub(" ", body)
        found = [_inline_text(m.group(1)) for m in _TITLE.finditer(cleaned)][:1]
        h1 = [_inline_text(m.group(1)) for m in _H1.finditer(cleaned)][:3]
        if not any(h1):
            h1 = [_inline_text(m.group(1)) for m in _H2.finditer(cleaned)][:1]
        return [text for text in found + h1 if text]
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    return [line for line in lines[:3] if len(line) <= 200]


def _url_noise(urls: Iterable[str | None]) -> list[str]:
    """Strings a page may echo from the URL that asked for it (path, last segment), longest first."""
    pieces: set[str] = set()
    for url in urls:
        if not url:
            continue
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        if len(path) > 1:
            pieces.add(path.lower())
            last = path.rsplit("/", 1)[-1]
            if len(last) >= 4:
                pieces.add(last.lower())
    return sorted(pieces, key=len, reverse=True)


def _normalize(text: str, noise: Sequence[str] = ()) -> list[str]:
    lowered = text.translate(_QUOTES).lower()
    lowered = re.sub(r"https?://\S+", " ", lowered)
    for piece in noise:
        lowered = lowered.replace(piece, " ")
    lowered = re.sub(r"\d+", "0", lowered)
    return re.findall(r"\w+", lowered)


_FINGERPRINT_TOKENS = 3000


def make_fingerprint(body_text: str | None, url: str | None = None) -> str:
    """What a probe keeps of the page it got: its normalized title, a newline, then its normalized words.

    Digits are folded and the requested URL's path is dropped, so that "no page at /x-123" and "no page at
    /y-456" compare equal. Store it as text; `classify_http` compares pages to it.
    """
    if not body_text:
        return "\n"
    noise = _url_noise([url])
    title = " ".join(_normalize(_title_of(body_text), noise))
    words = _normalize(visible_text(body_text), noise)[:_FINGERPRINT_TOKENS]
    return f"{title}\n{' '.join(words)}"


def _shingles(words: Sequence[str], size: int = 3) -> set[tuple[str, ...]]:
    if len(words) < size:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + size]) for i in range(len(words) - size + 1)}


def text_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard similarity of word 3-shingles (1.0 for two identical texts, 0.0 when either is empty)."""
    left, right = _shingles(a), _shingles(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


@dataclass(frozen=True)
class ProbeAnswer:
    """How the site answered a random nonexistent URL on the same host."""

    status: int | None
    final_url: str | None
    fingerprint: str | None

    @classmethod
    def from_response(cls, status: int | None, final_url: str | None, body_text: str | None,
                      url: str | None = None) -> ProbeAnswer:
        """The probe's answer with its fingerprint computed (url: the probe URL that was asked)."""
        return cls(status, final_url, make_fingerprint(body_text, url or final_url))


# --------------------------------------------------------------------------------------------------
# Soft 404 by wording
# --------------------------------------------------------------------------------------------------

_NEG = (r"(?:does\s+not|doesn't|did\s+not|didn't|could\s+not|couldn't|can\s?not|can't|was\s+not|wasn't"
        r"|is\s+not|isn't|no\s+longer)")
_THING = r"(?:page|article|story|content|post|document|file|resource|url|link|item|entry)"
_NOT_FOUND = [re.compile(pattern) for pattern in (
    # English
    r"\b(?:error\s*)?404(?:\s*error)?\b(?:\s*[-:.,!]?\s*(?:the\s+)?(?:" + _THING + r"\s+)?not\s+found)?",
    r"\b(?:error|" + _THING + r")\s*[-:]?\s*404\b",
    r"\b(?:the\s+|this\s+|that\s+)?" + _THING + r"\s+(?:was\s+|is\s+)?not\s+found\b",
    r"^(?:(?:the\s+)?requested\s+)?(?:" + _THING + r"\s+)?not\s+found$",
    r"^nothing\s+(?:was\s+)?found(?:\s+here)?$",
    r"\b(?:the\s+|this\s+|that\s+)?" + _THING + r"\s+(?:you\s+(?:are|were|'re)\s+looking\s+for|you\s+requested|"
    r"requested)\s+(?:" + _NEG + r"|(?:was|has\s+been|is)\s+(?:not\s+found|removed|deleted|moved|unavailable))"
    r"(?:\s+(?:exist|be\s+found|found|available|here|anymore|longer))*",
    r"\b(?:the\s+|this\s+|that\s+)?" + _THING + r"\s+" + _NEG + r"\s+(?:exist|be\s+found)(?:\s+anymore)?",
    r"\b(?:we|i)\s+(?:could\s+not|couldn't|can\s?not|can't)\s+find\s+(?:the|that|this|your)\s+" + _THING
    + r"(?:\s+you\s+(?:are|were|'re)\s+looking\s+for)?",
    r"\b(?:the\s+|this\s+|that\s+)?" + _THING + r"\s+(?:is\s+no\s+longer\s+available|has\s+been\s+(?:removed|"
    r"deleted)|no\s+longer\s+exists|is\s+unavailable|is\s+gone)",
    r"\bthere\s+is\s+nothing\s+here\b",
    # Russian
    r"(?:ошибка\s*)?404(?:\s*[-:.,!]?\s*(?:страница\s+)?не\s+найден\w*)?",
    r"ошибка\s*[-:]?\s*404",
    r"(?:запрашиваем\w*\s+(?:вами\s+)?)?(?:страниц\w*|материал\w*|документ\w*|стать\w*|новост\w*|публикаци\w*|"
    r"запис\w*|ресурс\w*)\s+(?:не\s+найден\w*|не\s+существует|не\s+обнаружен\w*|(?:был\w*\s+)?удален\w*|"
    r"недоступн\w*|отсутствует)",
    r"(?:такой\s+)?страницы\s+(?:нет|не\s+существует)(?:\s+на\s+сайте)?",
    r"^(?:ничего\s+)?не\s+найден\w*$",
    # Ukrainian
    r"сторінк\w*\s+не\s+(?:знайдено|знайдена|існує)",
)]
_DECOR = re.compile(r"^(?:oops|whoops|sorry|uh[- ]oh|hmm+|ой|упс|извините|к\s+сожалению|на\s+жаль|вибачте)\b\W*")
_SEPARATORS = re.compile(r"\s+[|\u2013\u2014\-\u00b7\u00bb\u00ab:/]+\s+|\s*::\s*")
_MIN_COVERAGE = 0.6


def _not_found_heading(heading: str) -> bool:
    """True when a heading segment is a not-found message (its wording is most of the segment)."""
    for segment in _SEPARATORS.split(heading.translate(_QUOTES).lower()):
        text = _SPACE.sub(" ", segment).strip(" .,!?;:'\"()[]«»")
        for _ in range(3):
            text = _DECOR.sub("", text).strip(" .,!?;:'\"()[]«»")
        if not text:
            continue
        covered = [False] * len(text)
        for pattern in _NOT_FOUND:
            for match in pattern.finditer(text):
                for i in range(match.start(), match.end()):
                    covered[i] = True
        letters = [i for i, ch in enumerate(text) if ch.isalnum()]
        if letters and sum(covered[i] for i in letters) / len(letters) >= _MIN_COVERAGE:
            return True
    return False


def _soft_404_wording(body: str) -> str | None:
    for heading in _headings(body):
        if _not_found_heading(heading):
            return heading[:120]
    return None


# --------------------------------------------------------------------------------------------------
# URLs: same resource, home page, registrable domain
# --------------------------------------------------------------------------------------------------

# Link shorteners and forwarders: a redirect from these to another domain is their job, not a removal.
SHORTENERS = frozenset({
    "bit.ly", "bitly.com", "t.co", "goo.gl", "tinyurl.com", "ow.ly", "buff.ly", "dlvr.it", "ift.tt", "is.gd",
    "trib.al", "lnkd.in", "rb.gy", "cutt.ly", "shorturl.at", "tiny.cc", "t.ly", "s.id", "rebrand.ly", "vk.cc",
    "clck.ru", "fb.me", "amzn.to", "wp.me", "redd.it", "youtu.be", "dai.ly", "nyti.ms", "wapo.st", "bbc.in",
    "reut.rs", "cnn.it", "politi.co", "apne.ws", "n.pr", "econ.st", "ti.me", "abcn.ws", "nbcnews.to", "fxn.ws",
    "href.li", "ampproject.org", "lnk.to", "po.st", "shr.lc",
})
# Domains of one site: a redirect between them is not "another site".
_SAME_SITE = (
    {"youtube.com", "youtu.be", "youtube-nocookie.com"}, {"twitter.com", "x.com"},
    {"vk.com", "vk.ru", "vkvideo.ru"}, {"ok.ru", "odnoklassniki.ru"}, {"dailymotion.com", "dai.ly"},
    {"facebook.com", "fb.com", "fb.watch", "fb.me"}, {"instagram.com", "instagr.am"},
    {"t.me", "telegram.me", "telegram.dog"},
)
_LOGIN_SEGMENTS = frozenset({"login", "log-in", "log_in", "signin", "sign-in", "sign_in", "servicelogin", "auth",
                             "sso", "authorize", "oauth", "logon"})
_ERROR_PAGE = re.compile(r"(?:^|/)(?:404|410|not[-_]?found|page[-_]?not[-_]?found|notfound|error[-_]?404|"
                         r"404[-_]?error|errors?/404|error)(?:\.(?:s?html?|php|aspx?|jsp))?/?$", re.I)
_HOME_PATHS = re.compile(r"^/?(?:(?:[a-z]{2}(?:[-_][a-z]{2})?)/?)?(?:(?:index|default|home|main)"
                         r"(?:\.(?:s?html?|php|aspx?|jsp))?)?/?$", re.I)


@lru_cache(maxsize=1)
def _extractor() -> Any:
    try:
        import tldextract
    except ImportError:  # pragma: no cover - scrapy depends on tldextract
        return None
    # The bundled Public Suffix List snapshot: never fetch it over the network.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


@lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str:
    """example.co.uk for news.example.co.uk; the host itself for IP addresses and single labels."""
    host = host.lower().rstrip(".")
    extractor = _extractor()
    if extractor is not None:
        parts = extractor(host)
        if hasattr(parts, "top_domain_under_public_suffix"):
            domain = parts.top_domain_under_public_suffix
        else:  # pragma: no cover - tldextract < 5.3
            domain = parts.registered_domain
        if domain:
            return domain
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:]) if len(labels) >= 2 else host


def _site(host: str) -> str:
    domain = registrable_domain(host)
    for group in _SAME_SITE:
        if domain in group:
            return min(group)
    return domain


def _split(url: str) -> SplitResult:
    return urlsplit(url.strip())


def _host(parts: SplitResult) -> str:
    host = (parts.hostname or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _path(parts: SplitResult) -> str:
    path = parts.path or "/"
    return path.rstrip("/") or "/"


def _query(parts: SplitResult) -> tuple[str, ...]:
    kept = []
    for piece in parts.query.split("&"):
        name = piece.split("=", 1)[0].lower()
        if piece and not (name.startswith("utm_") or name in TRACKING_PARAMS):
            kept.append(piece)
    return tuple(sorted(kept))


def _same_resource(a: str, b: str) -> bool:
    """Equal but for http/https, www., a trailing slash, the default port and tracking parameters."""
    pa, pb = _split(a), _split(b)
    return (_host(pa), _path(pa), _query(pa)) == (_host(pb), _path(pb), _query(pb))


def _is_home(parts: SplitResult) -> bool:
    """The site's front page (or a language's): "/", "/en/", "/index.php", with no query that names a page."""
    return bool(_HOME_PATHS.fullmatch(parts.path or "/")) and not _query(parts)


def _is_login(parts: SplitResult) -> bool:
    for segment in (parts.path or "").lower().split("/"):
        stem = re.sub(r"\.(?:s?html?|php|aspx?|jsp)$", "", segment)
        if stem in _LOGIN_SEGMENTS:
            return True
    return False


def _is_challenge(parts: SplitResult) -> bool:
    host = (parts.hostname or "").lower()
    path = (parts.path or "").lower()
    return (host.startswith("consent.") or path.startswith("/cdn-cgi/challenge") or
            (registrable_domain(host).startswith("google.") and path.startswith("/sorry")))


def _redirect_loop(url: str, chain: Sequence[str], final_url: str | None) -> bool:
    seen: list[str] = [url]
    for hop in [*chain, *([final_url] if final_url else [])]:
        if hop != seen[-1]:
            seen.append(hop)
    return len(seen) != len(set(seen))


# --------------------------------------------------------------------------------------------------
# classify_http
# --------------------------------------------------------------------------------------------------

_ERRORS = {
    "dns": (Outcome.DNS_ERROR, "host name does not resolve"),
    "connect": (Outcome.CONNECTION_ERROR, "could not connect"),
    "timeout": (Outcome.TIMEOUT, "no answer in time"),
    "tls": (Outcome.CONNECTION_ERROR, "TLS handshake failed"),
}
_PROBE_SIMILARITY = 0.9
_PROBE_MIN_WORDS = 8


def classify_http(*, url: str, status: int | None, final_url: str | None, redirect_chain: Sequence[str],
                  body_text: str | None, error: str | None, probe: ProbeAnswer | None) -> Classification:
    """The outcome of one HTTP check of `url`.

    status, final_url: the last answer and where redirects led; redirect_chain: the URLs passed through;
    body_text: the final page (HTML or its text); error: "dns", "connect", "timeout", "tls",
    "too_many_redirects" or None; probe: the site's answer for a random nonexistent URL on the same host.
    """
    chain = list(redirect_chain or ())
    if error == "too_many_redirects" or (error is None and status is not None and 300 <= status < 400
                                         and _redirect_loop(url, chain, final_url)):
        return Classification(Outcome.SERVER_ERROR, f"redirect loop after {len(chain)} redirects"
                              " (a misbehaving server or a cookie wall, not proof of removal)")
    if error is not None:
        outcome, detail = _ERRORS.get(error, (Outcome.CONNECTION_ERROR, f"fetch failed: {error}"))
        return Classification(outcome, detail)
    if status is None:
        return Classification(Outcome.CONNECTION_ERROR, "no answer")
    if status in (404, 410):
        return Classification(Outcome.GONE, f"HTTP {status}")
    if status == 451:
        return Classification(Outcome.GEO_BLOCKED, "HTTP 451 Unavailable For Legal Reasons")
    if status == 401:
        return Classification(Outcome.PRIVATE, "HTTP 401: login required")
    if status in (403, 429):
        return Classification(Outcome.BLOCKED, f"HTTP {status}")
    if status == 408:
        return Classification(Outcome.TIMEOUT, "HTTP 408")
    if 500 <= status < 600:
        return Classification(Outcome.SERVER_ERROR, f"HTTP {status}")
    if 400 <= status < 500 or status >= 600:
        return Classification(Outcome.BLOCKED, f"HTTP {status}: an unusual refusal, not proof of removal")
    if 300 <= status < 400 and not final_url:
        return Classification(Outcome.SERVER_ERROR, f"HTTP {status} without a usable Location")
    if status < 200:
        return Classification(Outcome.SERVER_ERROR, f"HTTP {status} as a final answer")

    moved = ""
    final = final_url or url
    if not _same_resource(url, final):
        verdict = _classify_destination(url, final, probe)
        if verdict is not None:
            return verdict
        moved = f"moved to {final}"
    if 300 <= status < 400:
        return Classification(Outcome.OK, f"HTTP {status} to {final}")
    if body_text:
        wording = _soft_404_wording(body_text)
        if wording is not None:
            return Classification(Outcome.SOFT_404, f"HTTP {status}, but the page says {wording!r}")
        verdict = _probe_similarity(url, final, body_text, probe)
        if verdict is not None:
            return verdict
    return Classification(Outcome.OK, moved or f"HTTP {status}")


def _classify_destination(url: str, final: str, probe: ProbeAnswer | None) -> Classification | None:
    """redirected_away, soft_404, private or blocked for where a redirect led; None when it is fine."""
    start, end = _split(url), _split(final)
    if _is_challenge(end):
        return Classification(Outcome.BLOCKED, f"redirected to a consent or challenge page {final}")
    if _is_login(end) and not _is_login(start):
        return Classification(Outcome.PRIVATE, f"redirected to a login page {final}")
    if _ERROR_PAGE.search(end.path or "") and not _ERROR_PAGE.search(start.path or ""):
        return Classification(Outcome.SOFT_404, f"redirected to an error page {final}")
    if _is_home(end) and not _is_home(start):
        return Classification(Outcome.REDIRECTED_AWAY, f"redirected to the home page {final}")
    if probe is not None and probe.final_url:
        landing = _split(probe.final_url)
        if _same_resource(final, probe.final_url) or (
                _host(end) == _host(landing) and _path(end) == _path(landing) and _path(start) != _path(end)):
            return Classification(Outcome.REDIRECTED_AWAY,
                                  f"redirected to {final}, where a nonexistent URL of the site lands too")
    start_site, end_site = _site(_host(start)), _site(_host(end))
    if start_site != end_site and registrable_domain(_host(start)) not in SHORTENERS:
        if _path(start) == _path(end) and _path(start) != "/":
            return None  # the site moved to another domain and kept its paths
        return Classification(Outcome.REDIRECTED_AWAY, f"redirected to another site {final}")
    return None


def _probe_similarity(url: str, final: str, body: str, probe: ProbeAnswer | None) -> Classification | None:
    if probe is None or probe.status is None or not (200 <= probe.status < 300) or not probe.fingerprint:
        return None
    probe_title, _, probe_words_text = probe.fingerprint.partition("\n")
    probe_words = probe_words_text.split()
    noise = _url_noise([url, final])
    title = " ".join(_normalize(_title_of(body), noise))
    words = _normalize(visible_text(body), noise)[:_FINGERPRINT_TOKENS]
    if title != probe_title or len(words) < _PROBE_MIN_WORDS or len(probe_words) < _PROBE_MIN_WORDS:
        return None
    similarity = text_similarity(words, probe_words)
    if similarity >= _PROBE_SIMILARITY:
        return Classification(Outcome.SOFT_404, f"HTTP 200 with the page a nonexistent URL gets "
                                                f"(similarity {similarity:.2f})")
    return None


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
    normalized = _SPACE.sub(" ", text.translate(_QUOTES)).strip()
    for pattern, outcome, detail in _WORDING:
        if pattern.search(normalized):
            return True, (Classification(outcome, f"{detail}: {normalized[:200]}") if outcome else None)
    return False, None


def _availability_wording(text: str) -> Classification | None:
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
        return _availability_wording(_inline_text(message.group(1)))
    return None


# ok.ru: the stub text yt-dlp's OdnoklassnikiIE reads (extractor/odnoklassniki.py).
_OK_STUB = re.compile(r'(?s)<[^>]+class="[^"]*\bvp_video_stub_txt\b[^"]*"[^>]*>(.*?)</')


def _classify_ok(body: str) -> Classification | None:
    stub = _OK_STUB.search(body)
    if stub:
        return _availability_wording(_inline_text(stub.group(1)))
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


# --------------------------------------------------------------------------------------------------
# The state machine
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WatchPolicy:
    """How much evidence a vanishing needs."""

    confirm_checks: int = 2
    confirm_delay: timedelta = timedelta(hours=1)
    transient_checks: int = 3
    transient_span: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.confirm_checks < 1 or self.transient_checks < 1:
            raise ValueError("confirm_checks and transient_checks must be at least 1")
        if self.confirm_delay < timedelta(0) or self.transient_span < timedelta(0):
            raise ValueError("confirm_delay and transient_span must not be negative")

    @classmethod
    def from_settings(cls, settings: Any) -> WatchPolicy:
        """From archive.config.Settings (confirm_checks, confirm_delay, transient_checks, transient_span)."""
        return cls(
            confirm_checks=int(settings.confirm_checks),
            confirm_delay=timedelta(seconds=int(settings.confirm_delay)),
            transient_checks=int(settings.transient_checks),
            transient_span=timedelta(seconds=int(settings.transient_span)),
        )


@dataclass(frozen=True)
class SourceState:
    """What decide() needs to know of a source; SourceState() is a source never checked.

    streak_*: the current run of checks of one class (definitive or transient) with no other outcome in
    between. streak_outcome names the run: the reason a definitive run would vanish with (most specific so
    far), or the latest transient outcome. Persist streak_outcome (Source.streak_outcome); the class follows
    from it.
    """

    status: SourceStatus = SourceStatus.NEW
    reason: str | None = None
    streak_outcome_class: OutcomeClass | None = None
    streak_count: int = 0
    streak_started_at: datetime | None = None
    last_seen_alive_at: datetime | None = None
    vanished_at: datetime | None = None
    streak_outcome: Outcome | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", SourceStatus(self.status))
        if self.streak_outcome is not None:  # the stored outcome decides the class
            object.__setattr__(self, "streak_outcome", Outcome(self.streak_outcome))
            object.__setattr__(self, "streak_outcome_class", outcome_class(self.streak_outcome))
        if self.streak_outcome_class is not None:
            value = OutcomeClass(self.streak_outcome_class)
            if value is OutcomeClass.ALIVE:
                value = None
            object.__setattr__(self, "streak_outcome_class", value)
        if self.streak_outcome_class is None:
            object.__setattr__(self, "streak_count", 0)
            object.__setattr__(self, "streak_started_at", None)
            object.__setattr__(self, "streak_outcome", None)


@dataclass(frozen=True)
class Transition:
    """A change of status worth recording; `alerts` says whether it raises an alert."""

    from_status: SourceStatus
    to_status: SourceStatus
    reason: str | None
    at: datetime
    kind: TransitionKind

    @property
    def alerts(self) -> bool:
        return self.kind in ALERT_KINDS


@dataclass(frozen=True)
class Decision:
    """The state after a check, the transition to record (if any), and when to check again.

    next_check_in: check again no later than this (a confirming check brought forward); None means the
    regular schedule.
    """

    new_state: SourceState
    transition: Transition | None
    next_check_in: timedelta | None


def _more_specific(a: Outcome, b: Outcome) -> Outcome:
    return a if _SPECIFICITY.index(a) <= _SPECIFICITY.index(b) else b


def decide(state: SourceState, outcome: str, at: datetime, policy: WatchPolicy) -> Decision:
    """Apply one check's outcome to a source's state."""
    value = Outcome(outcome)
    kind = outcome_class(value)
    if kind is OutcomeClass.ALIVE:
        return _decide_alive(state, value, at)
    if kind is OutcomeClass.DEFINITIVE:
        return _decide_definitive(state, value, at, policy)
    return _decide_transient(state, value, at, policy)


def _decide_alive(state: SourceState, outcome: Outcome, at: datetime) -> Decision:
    came_back = state.status in (SourceStatus.VANISHED, SourceStatus.RETURNED) or state.vanished_at is not None
    status = SourceStatus.RETURNED if came_back else SourceStatus.ALIVE
    reason = outcome.value if outcome is Outcome.AGE_RESTRICTED else None
    new_state = dataclasses.replace(state, status=status, reason=reason, streak_outcome_class=None,
                                    streak_count=0, streak_started_at=None, streak_outcome=None,
                                    last_seen_alive_at=at)
    transition = None
    if state.status is SourceStatus.VANISHED:
        transition = Transition(state.status, status, outcome.value, at, TransitionKind.RETURNED)
    elif outcome is Outcome.CHANGED:
        transition = Transition(state.status, status, outcome.value, at, TransitionKind.CHANGED)
    elif state.status != status:
        transition = Transition(state.status, status, outcome.value, at, TransitionKind.ALIVE)
    return Decision(new_state, transition, None)


def _decide_definitive(state: SourceState, outcome: Outcome, at: datetime, policy: WatchPolicy) -> Decision:
    if state.streak_outcome_class is OutcomeClass.DEFINITIVE:
        count = state.streak_count + 1
        started = state.streak_started_at or at
        named = _more_specific(state.streak_outcome or outcome, outcome)
    else:
        count, started, named = 1, at, outcome
    new_state = dataclasses.replace(state, streak_outcome_class=OutcomeClass.DEFINITIVE, streak_count=count,
                                    streak_started_at=started, streak_outcome=named)
    if state.status is SourceStatus.VANISHED:
        if count >= policy.confirm_checks and state.reason in {o.value for o in TRANSIENT}:
            # It vanished as unreachable; now the site says why. Keep the better reason (no new alert).
            new_state = dataclasses.replace(new_state, reason=named.value)
        return Decision(new_state, None, None)
    if count >= policy.confirm_checks:
        new_state = dataclasses.replace(new_state, status=SourceStatus.VANISHED, reason=named.value, vanished_at=at)
        return Decision(new_state, Transition(state.status, SourceStatus.VANISHED, named.value, at,
                                              TransitionKind.VANISHED), None)
    return Decision(new_state, None, policy.confirm_delay)


def _decide_transient(state: SourceState, outcome: Outcome, at: datetime, policy: WatchPolicy) -> Decision:
    if state.streak_outcome_class is OutcomeClass.TRANSIENT:
        count, started = state.streak_count + 1, state.streak_started_at or at
    else:
        count, started = 1, at
    new_state = dataclasses.replace(state, streak_outcome_class=OutcomeClass.TRANSIENT, streak_count=count,
                                    streak_started_at=started, streak_outcome=outcome)
    if state.status is SourceStatus.VANISHED:
        return Decision(new_state, None, None)
    elapsed = at - started
    if count >= policy.transient_checks and elapsed >= policy.transient_span:
        new_state = dataclasses.replace(new_state, status=SourceStatus.VANISHED, reason=outcome.value,
                                        vanished_at=at)
        return Decision(new_state, Transition(state.status, SourceStatus.VANISHED, outcome.value, at,
                                              TransitionKind.VANISHED), None)
    new_state = dataclasses.replace(new_state, status=SourceStatus.UNREACHABLE, reason=outcome.value)
    transition = None
    if state.status is not SourceStatus.UNREACHABLE:
        transition = Transition(state.status, SourceStatus.UNREACHABLE, outcome.value, at,
                                TransitionKind.UNREACHABLE)
    # Spread the checks still needed over the time still needed, but no closer than confirm_delay.
    remaining_checks = policy.transient_checks - count
    remaining_time = policy.transient_span - elapsed
    if remaining_checks > 0:
        wait = remaining_time / remaining_checks if remaining_time > timedelta(0) else timedelta(0)
    else:
        wait = remaining_time
    return Decision(new_state, transition, max(wait, policy.confirm_delay))
