"""Direct media files: a URL whose path names a video file is a video, its own id and page."""

from __future__ import annotations

from archive.providers.base import Found, VideoURL
from archive.urls import InvalidURL, normalize_url

NAME = "direct"
DOMAINS: tuple[str, ...] = ()  # any host: asked only when no provider recognized the URL
MEDIA_EXTENSIONS = (".mp4", ".webm", ".m3u8", ".mov", ".m4v", ".ogv", ".mpd")
HINTS = MEDIA_EXTENSIONS


def recognize(url: VideoURL) -> Found | None:
    """The normalized URL as both id and page when its path ends in a media extension."""
    if not url.path.lower().endswith(MEDIA_EXTENSIONS):
        return None
    try:
        normal = normalize_url(url.url)
    except InvalidURL:
        return None
    return NAME, normal, normal
