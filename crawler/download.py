"""Downloading a video's media with yt-dlp: a format browsers play, its thumbnail and subtitles, its info JSON.

yt-dlp knows how to get the media of every provider we detect (and of pages with HTML5 video and direct links,
through its generic extractor). Its traffic goes through the net guard's forwarding proxy and trusts the same CA
bundle as every other client (archive.providers.info.guarded_ydl_options). The info JSON is kept without the
cookies and credentials yt-dlp carries in it.
"""

from __future__ import annotations

import logging
import mimetypes
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.providers import ytdlp_url
from archive.providers.info import guarded_ydl_options

logger = logging.getLogger(__name__)

# Headers that carry credentials: never written into an archive.
SECRET_HEADERS = {"cookie", "authorization", "proxy-authorization"}
_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".m4a": "audio/mp4",
          ".mp3": "audio/mpeg", ".mkv": "video/x-matroska", ".vtt": "text/vtt", ".srt": "application/x-subrip",
          ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


class MediaError(Exception):
    """Media that could not be kept; `reason` is the crawl failure reason (media_error, media_too_large)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class Download:
    """What yt-dlp fetched into a folder: the media file, the extras, the info JSON."""

    media: Path
    info: dict[str, Any]
    extras: list[Extra] = field(default_factory=list)


@dataclass(frozen=True)
class Extra:
    """A file kept beside the media: a thumbnail or a caption track (its language and kind: subtitles, automatic,
    track), with the URL it came from (None: no one URL served it)."""

    path: Path
    url: str | None
    language: str | None = None
    caption: str | None = None


class _Messages:
    """yt-dlp's logger: keeps its errors (the reason a download failed) and logs the rest at debug level."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, message: str) -> None:
        logger.debug("%s", message)

    info = debug

    def warning(self, message: str) -> None:
        logger.warning("yt-dlp: %s", message.removeprefix("WARNING: "))

    def error(self, message: str) -> None:
        self.errors.append(message.removeprefix("ERROR: ").strip().splitlines()[0] if message.strip() else message)


def content_type(path: Path) -> str:
    """The media type of a downloaded file, by its extension."""
    return _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def media_format(max_height: int, can_merge: bool) -> str:
    """yt-dlp's format selection: MP4 (what every browser plays) of at most max_height lines, else the best such
    file of any container, else the smallest. Separate video and audio only when ffmpeg can merge them."""
    limit = f"[height<=?{max_height}]"
    single = f"b{limit}[ext=mp4]/b{limit}"
    if can_merge:
        return f"bv*{limit}[ext=mp4]+ba[ext=m4a]/{single}/bv*{limit}+ba/w"
    return f"{single}/w"


def download_options(folder: Path, *, timeout: int, max_bytes: int, max_height: int,
                     messages: _Messages) -> dict[str, Any]:
    """yt-dlp options for one media download into folder (network options are added by the caller)."""
    can_merge = shutil.which("ffmpeg") is not None
    return {
        "quiet": True, "no_warnings": True, "noprogress": True, "noplaylist": True, "playlist_items": "1",
        "socket_timeout": timeout, "retries": 1, "fragment_retries": 1, "extractor_retries": 1,
        "logger": messages, "max_filesize": max_bytes, "outtmpl": str(folder / "media.%(ext)s"),
        "format": media_format(max_height, can_merge), "merge_output_format": "mp4",
        "writethumbnail": True, "writesubtitles": True, "writeautomaticsub": True,
        "subtitleslangs": ["all", "-live_chat"], "subtitlesformat": "vtt/best",  # every language, WebVTT first
        # A thumbnail or subtitle that fails must not cost the video: errors are collected, not raised.
        "ignoreerrors": True,
    }


def download_media(url: str, folder: Path, *, proxy: str | None, timeout: int, max_bytes: int,
                   allow_networks: Iterable[str] = (), max_height: int = 720) -> Download:
    """The media of a video page or link, its thumbnail and subtitles, downloaded by yt-dlp into folder."""
    import yt_dlp

    messages = _Messages()
    options = download_options(folder, timeout=timeout, max_bytes=max_bytes, max_height=max_height,
                               messages=messages)
    options.update(guarded_ydl_options(proxy, allow_networks))  # every connection through the net guard
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(ytdlp_url(url), download=True)
            clean = clean_info(ydl.sanitize_info(info)) if info else {}
    except Exception as exc:  # extractor bugs must not stop a crawl
        raise MediaError("media_error", f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    media = _media_file(info or {}, folder)
    if media is None:
        if messages.errors:
            raise MediaError("media_error", messages.errors[0])
        # yt-dlp skips, without an error, a file announced larger than max_filesize.
        raise MediaError("media_too_large", f"no media file within {max_bytes} bytes")
    if media.stat().st_size > max_bytes:
        raise MediaError("media_too_large", f"{media.stat().st_size} bytes is over the cap of {max_bytes}")
    return Download(media=media, info=clean, extras=_extras(info or {}, folder))


def media_url(info: dict[str, Any]) -> str | None:
    """The URL that served the downloaded file as it is, when there is one: a single format fetched over plain
    HTTP(S). None for a file merged from several formats or assembled from a stream's fragments (HLS, DASH)."""
    downloads = info.get("requested_downloads") or [info]
    chosen = downloads[0] if isinstance(downloads[0], dict) else {}
    if chosen.get("requested_formats") or info.get("requested_formats"):
        return None
    url, protocol = chosen.get("url"), chosen.get("protocol") or "https"
    if not isinstance(url, str) or protocol not in {"http", "https"}:
        return None
    return url if url.startswith(("http://", "https://")) else None


def _inside(value: Any, folder: Path) -> Path | None:
    """A file path yt-dlp reported, if it is a whole file in folder."""
    if not isinstance(value, str):
        return None
    path = Path(value)
    return path if path.is_file() and path.parent == folder and not path.name.endswith(".part") else None


def _media_file(info: dict[str, Any], folder: Path) -> Path | None:
    """The file yt-dlp downloaded (merged) for the chosen format."""
    for download in info.get("requested_downloads") or []:
        path = _inside(download.get("filepath"), folder)
        if path is not None:
            return path
    return None


def _extras(info: dict[str, Any], folder: Path) -> list[Extra]:
    """The thumbnail and subtitle files written, with the URL each was fetched from (a subtitle's language and
    whether the provider made it automatically)."""
    found = []
    for thumbnail in info.get("thumbnails") or []:
        path = _inside(thumbnail.get("filepath"), folder)
        if path is not None and thumbnail.get("url"):
            found.append(Extra(path, thumbnail["url"]))
    own = info.get("subtitles") or {}
    for language, subtitle in (info.get("requested_subtitles") or {}).items():
        path = _inside(subtitle.get("filepath"), folder)
        if path is not None:
            url = subtitle.get("url") if str(subtitle.get("url") or "").startswith(("http://", "https://")) else None
            found.append(Extra(path, url, str(language), "subtitles" if language in own else "automatic"))
    return found


def clean_info(info: Any) -> Any:
    """yt-dlp's info without credentials: no `cookies` fields, no Cookie/Authorization headers, no local paths."""
    if isinstance(info, dict):
        out = {}
        for key, value in info.items():
            if key in {"cookies", "filepath", "filename", "_filename", "infojson_filename", "__finaldir"}:
                continue
            if key == "http_headers" and isinstance(value, dict):
                value = {name: text for name, text in value.items() if str(name).lower() not in SECRET_HEADERS}
            out[key] = clean_info(value)
        return out
    if isinstance(info, list):
        return [clean_info(item) for item in info]
    return info
