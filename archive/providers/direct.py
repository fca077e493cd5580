"""Direct media files: a URL whose path names a video file is a video, its own id and page."""

from __future__ import annotations

from archive.providers.base import Found, VideoURL
from archive.status import Classification
from archive.urls import InvalidURL, normalize_url

NAME = "direct"
DOMAINS: tuple[str, ...] = ()  # any host: asked only when no provider recognized the URL
MEDIA_EXTENSIONS = (".mp4", ".webm", ".m3u8", ".mov", ".m4v", ".ogv", ".mpd")
HINTS = MEDIA_EXTENSIONS
OEMBED = None
PAGE = "{url}"  # the file itself: its HTTP answer says it all


def recognize(url: VideoURL) -> Found | None:
    """The normalized URL as both id and page when its path ends in a media extension."""
    if not url.path.lower().endswith(MEDIA_EXTENSIONS):
        return None
    try:
        normal = normalize_url(url.url)
    except InvalidURL:
        return None
    return NAME, normal, normal


def read_page(status: int, text: str) -> Classification | None:
    """A media file says nothing beyond its HTTP answer."""
    return None


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """A media file has no oEmbed."""
    return None
