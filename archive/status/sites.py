"""Sites and URLs: registrable domains, one site's domains, and what a redirect's destination says.

A redirect within the same site to another path (a slug change, a moved article) is fine; only the home
page, the place where a nonexistent URL of the same site lands, a dedicated error page, a login page or
another registrable domain (unless the path is kept: a domain move) count as evidence. Links through known
shorteners (t.co, bit.ly, youtu.be...) are allowed to land on another domain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, urlsplit

from archive.status.outcomes import Classification, Outcome
from archive.urls import TRACKING_PARAMS

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


def same_resource(a: str, b: str) -> bool:
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


def redirect_loop(url: str, chain: Sequence[str], final_url: str | None) -> bool:
    """True when the redirects from `url` through `chain` to `final_url` come back to a URL seen before."""
    seen: list[str] = [url]
    for hop in [*chain, *([final_url] if final_url else [])]:
        if hop != seen[-1]:
            seen.append(hop)
    return len(seen) != len(set(seen))


# --------------------------------------------------------------------------------------------------
# Where a redirect led
# --------------------------------------------------------------------------------------------------

def classify_destination(url: str, final: str, probe_landing: str | None) -> Classification | None:
    """redirected_away, soft_404, private or blocked for where a redirect led; None when it is fine.

    probe_landing: where the site's answer for a random nonexistent URL landed, if it redirected.
    """
    start, end = _split(url), _split(final)
    if _is_challenge(end):
        return Classification(Outcome.BLOCKED, f"redirected to a consent or challenge page {final}")
    if _is_login(end) and not _is_login(start):
        return Classification(Outcome.PRIVATE, f"redirected to a login page {final}")
    if _ERROR_PAGE.search(end.path or "") and not _ERROR_PAGE.search(start.path or ""):
        return Classification(Outcome.SOFT_404, f"redirected to an error page {final}")
    if _is_home(end) and not _is_home(start):
        return Classification(Outcome.REDIRECTED_AWAY, f"redirected to the home page {final}")
    if probe_landing:
        landing = _split(probe_landing)
        if same_resource(final, probe_landing) or (
                _host(end) == _host(landing) and _path(end) == _path(landing) and _path(start) != _path(end)):
            return Classification(Outcome.REDIRECTED_AWAY,
                                  f"redirected to {final}, where a nonexistent URL of the site lands too")
    start_site, end_site = _site(_host(start)), _site(_host(end))
    if start_site != end_site and registrable_domain(_host(start)) not in SHORTENERS:
        if _path(start) == _path(end) and _path(start) != "/":
            return None  # the site moved to another domain and kept its paths
        return Classification(Outcome.REDIRECTED_AWAY, f"redirected to another site {final}")
    return None
