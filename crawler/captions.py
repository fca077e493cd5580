"""The `<track>` caption files a video's page gives its player, fetched beside the media on the capture path.

Found in the page's HTML by archive.extract.tracks; fetched here by the media download thread through the net
guard and the proxy, each bounded in bytes and time, and kept as resource records beside the media (crawler.media)
with their language. yt-dlp's generic extractor may have fetched a track already: it is not fetched twice.
A track that cannot be fetched is logged and left out; it never costs the video.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import requests

from archive.config import Settings
from archive.extract.tracks import Track
from archive.net.http import make_session, one_line
from crawler.download import Extra

logger = logging.getLogger(__name__)
MAX_TRACK_BYTES = 5 * 1024 * 1024  # a WebVTT file of a 3-hour film is ~200 kB: more is not a caption track
_CHUNK = 64 * 1024


def fetch_tracks(tracks: Iterable[Track], folder: Path, settings: Settings, *, known: set[str]) -> list[Extra]:
    """Each track not among `known` URLs, fetched into `folder`; those that failed are logged and left out."""
    todo = [track for track in tracks if track.url not in known]
    if not todo:
        return []
    session = make_session(settings.user_agent, settings.proxy, allow_networks=settings.allow_networks)
    found = []
    with session:
        for number, track in enumerate(todo):
            path = folder / f"track-{number}.vtt"
            problem = _fetch(session, track.url, path, settings.download_timeout)
            if problem:
                logger.warning("caption track %s not kept: %s", track.url, problem)
                path.unlink(missing_ok=True)
            else:
                found.append(Extra(path, track.url, track.language, "track"))
    return found


def _fetch(session: requests.Session, url: str, path: Path, timeout: int) -> str | None:
    """Fetch one track into `path`; why not, or None."""
    try:
        with session.get(url, timeout=timeout, stream=True) as response:
            if response.status_code != 200:
                return f"HTTP {response.status_code}"
            size = 0
            with path.open("wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > MAX_TRACK_BYTES:
                        return f"over {MAX_TRACK_BYTES} bytes"
                    out.write(chunk)
    except (requests.RequestException, OSError) as exc:
        return one_line(str(exc)) or type(exc).__name__
    return None if size else "empty"
