"""Video and social providers, one module each, and the registry that recognizes a video's URL.

A provider module names its DOMAINS (registered domains: the last two labels of a host), the HINTS a page
scanner looks for in a link before parsing it, and `recognize(url)` -> (provider, video_id, canonical_url).
The same video written as a watch link, a short link and an embed is one `VideoRef`: the key is
(provider, video_id), and `canonical_url` is the provider's public page for it. A URL that no provider
recognizes is still a video when its path names a media file ("direct").

Each module also names what is worth asking about a video (OEMBED, its oEmbed endpoint; PAGE, the page that
says most) and reads the answers (read_page, read_oembed): how that provider says removed, private,
account terminated, geo-blocked, age-restricted, login required, rate-limited or bot-checked; a module whose
provider sends pages it will not show elsewhere (a login page) also reads where it sent it (read_redirect). A URL any
provider recognizes names a video: its source is of kind "video" (kind_of). A module whose provider shows yt-dlp
more on another URL of the video names it (ytdlp_url). Nothing here touches the network
except `info` (what yt-dlp or oEmbed says of a video), which is imported on its own.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from archive.providers import (
    dailymotion,
    direct,
    facebook,
    instagram,
    ok,
    rutube,
    telegram,
    tiktok,
    twitter,
    vimeo,
    vk,
    youtube,
)
from archive.providers.base import Found, Provider, VideoRef, fill, parse_url
from archive.status import Classification
from archive.vocab import SourceKind

__all__ = ["HINTS", "OEMBED_ENDPOINTS", "PAGES", "PROVIDERS", "RENDERED_HOSTS", "VideoRef", "kind_of", "page_url",
           "read_oembed",
           "read_page", "read_redirect", "recognize", "renders_client_side", "video_from_url", "ytdlp_url"]

_REGISTRY: tuple[Provider, ...] = (youtube, vimeo, dailymotion, vk, rutube, ok, twitter, telegram, facebook,
                                   tiktok, instagram)
_BY_DOMAIN: dict[str, Provider] = {domain: provider for provider in _REGISTRY for domain in provider.DOMAINS}

_BY_NAME: dict[str, Provider] = {provider.NAME: provider for provider in (*_REGISTRY, direct)}

PROVIDERS = (*(provider.NAME for provider in _REGISTRY), direct.NAME)
HINTS = tuple(hint for provider in (*_REGISTRY, direct) for hint in provider.HINTS)
OEMBED_ENDPOINTS = {provider.NAME: provider.OEMBED for provider in _REGISTRY if provider.OEMBED}
PAGES = {provider.NAME: provider.PAGE for provider in (*_REGISTRY, direct)}
# Hosts whose pages are built by scripts (a provider module's RENDERED_HOSTS): auto mode captures them in a browser.
RENDERED_HOSTS = frozenset(host for provider in _REGISTRY for host in getattr(provider, "RENDERED_HOSTS", ()))


def renders_client_side(url: str) -> bool:
    """True when url's host (or a host it is a subdomain of) is one a provider names as rendering client-side."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".") if isinstance(url, str) else ""
    labels = host.split(".")
    return any(".".join(labels[i:]) in RENDERED_HOSTS for i in range(len(labels) - 1))


def recognize(url: str) -> Found | None:
    """(provider, video_id, canonical_url) for an absolute http(s) URL of a video, else None."""
    parsed = parse_url(url)
    if parsed is None:
        return None
    provider = _BY_DOMAIN.get(parsed.domain)
    found = provider.recognize(parsed) if provider is not None else None
    return found if found is not None else direct.recognize(parsed)


def video_from_url(url: str) -> VideoRef | None:
    """The video a URL points to (found_as "link"), or None when it is not a video's URL."""
    if not isinstance(url, str) or not url:
        return None
    found = recognize(url)
    return VideoRef(found[0], found[1], found[2], "link") if found else None


def kind_of(url: str) -> str:
    """"video" for a URL that names a video or a post with media (any provider recognizes it), else "page"."""
    return SourceKind.VIDEO.value if video_from_url(url) is not None else SourceKind.PAGE.value


def page_url(provider: str, template: str, video_id: str, canonical: str) -> str:
    """The page to ask about a video: the template ({id}, {url}, {query}, {token}) filled in."""
    module = _BY_NAME.get(provider)
    token = getattr(module, "token", None)
    return fill(template, video_id, canonical, token(video_id) if token is not None else "")


def read_page(provider: str, status: int, text: str) -> Classification | None:
    """What the provider's page (PAGE) says of the video; None: nothing we can rely on, or no such provider."""
    module = _BY_NAME.get(provider)
    return module.read_page(status, text) if module is not None and text else None


def read_oembed(provider: str, status: int, body: bytes | None) -> Classification | None:
    """What the provider's oEmbed endpoint says of the video; None: nothing."""
    module = _BY_NAME.get(provider)
    return module.read_oembed(status, body) if module is not None else None


def read_redirect(provider: str, url: str, final_url: str | None) -> Classification | None:
    """What it says that the provider sent the page asked (url) to final_url; None: nothing, or no redirect."""
    reader = getattr(_BY_NAME.get(provider), "read_redirect", None)
    return reader(url, final_url) if reader is not None and final_url and final_url != url else None


def ytdlp_url(url: str) -> str:
    """The URL to hand yt-dlp for a video's URL: the provider's choice (Vimeo's player), else the URL as given."""
    found = recognize(url)
    chooser = getattr(_BY_NAME.get(found[0]), "ytdlp_url", None) if found else None
    return chooser(found[1], found[2]) if chooser is not None and found else url
