"""Video and social providers, one module each, and the registry that recognizes a video's URL.

A provider module names its DOMAINS (registered domains: the last two labels of a host), the HINTS a page
scanner looks for in a link before parsing it, and `recognize(url)` -> (provider, video_id, canonical_url).
The same video written as a watch link, a short link and an embed is one `VideoRef`: the key is
(provider, video_id), and `canonical_url` is the provider's public page for it. A URL that no provider
recognizes is still a video when its path names a media file ("direct"). Nothing here touches the network
except `info` (what a provider says of a video), which is imported on its own.
"""

from __future__ import annotations

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
from archive.providers.base import Found, Provider, VideoRef, parse_url

__all__ = ["HINTS", "PROVIDERS", "VideoRef", "recognize", "video_from_url"]

_REGISTRY: tuple[Provider, ...] = (youtube, vimeo, dailymotion, vk, rutube, ok, twitter, telegram, facebook,
                                   tiktok, instagram)
_BY_DOMAIN: dict[str, Provider] = {domain: provider for provider in _REGISTRY for domain in provider.DOMAINS}

PROVIDERS = (*(provider.NAME for provider in _REGISTRY), direct.NAME)
HINTS = tuple(hint for provider in (*_REGISTRY, direct) for hint in provider.HINTS)


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
