"""Captions kept at capture: the WebVTT tracks stored beside a video's media (the provider's subtitles and
automatic captions as yt-dlp fetched them, a player page's <track> files), read into lines with their seconds.

A track's language comes from its record's `Lastseen-Language` header, else the video's info JSON (kept beside
the media too), else its file name (`clip.en.vtt`); a track that is not WebVTT is named in the reading, never a
failure of the video.
"""

from __future__ import annotations

import io
import json
import re
from typing import TYPE_CHECKING, Any

from archive.words.reading import Reader, Reading

if TYPE_CHECKING:
    from archive.kept_media import KeptMedia

MAX_CUES = 50_000  # cues of one track kept at most (a 3-hour video has a few thousand)
_NAMED = re.compile(r"\.([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*)\.vtt$")


def track_languages(info: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Subtitle URL -> (language, automatic) from yt-dlp's info JSON."""
    found: dict[str, tuple[str, bool]] = {}
    for key, automatic in (("automatic_captions", True), ("subtitles", False), ("requested_subtitles", False)):
        for language, tracks in (info.get(key) or {}).items():
            for track in tracks if isinstance(tracks, list) else [tracks]:
                if isinstance(track, dict) and track.get("url"):
                    found.setdefault(track["url"], (language, automatic))
    return found


def is_vtt(uri: str, content_type: str, body: bytes) -> bool:
    """Whether a stored record is a WebVTT track (by its type, name or first line)."""
    return (content_type.split(";")[0].strip().lower() == "text/vtt" or uri.split("?")[0].endswith(".vtt")
            or body.lstrip(b"\xef\xbb\xbf").startswith(b"WEBVTT"))


def cues_of(body: bytes) -> list[dict[str, Any]]:
    """A WebVTT file's cues as (start, end, text) dicts, markup removed; ValueError when it is not WebVTT."""
    import webvtt
    from webvtt.errors import MalformedFileError

    try:
        parsed = webvtt.from_buffer(io.StringIO(body.decode("utf-8", errors="replace").lstrip("\ufeff")))
    except MalformedFileError as exc:
        raise ValueError(str(exc) or "malformed WebVTT") from None
    cues = []
    for cue in parsed.captions[:MAX_CUES]:
        text = "\n".join(line.strip() for line in cue.text.splitlines() if line.strip())
        if text:
            cues.append({"start": cue.start_time.in_milliseconds() / 1000,
                         "end": cue.end_time.in_milliseconds() / 1000, "text": text})
    return cues


def caption_reader() -> Reader:
    """The run's reader of kept captions: every WebVTT track beside the media, its cues as rows."""
    def read(media: KeptMedia) -> Reading:
        beside = media.beside()
        info = next((json.loads(body) for kind, _, body in beside if kind == "metadata"), {})
        languages = track_languages(info if isinstance(info, dict) else {})
        lines: list[dict[str, Any]] = []
        tracks: list[dict[str, Any]] = []
        for kind, headers, body in beside:
            uri = headers.get("WARC-Target-URI", "")
            if kind != "resource" or not is_vtt(uri, headers.get("Content-Type", ""), body):
                continue
            named = _NAMED.search(uri.split("?")[0])
            language, automatic = languages.get(uri, (named.group(1) if named else None, False))
            if headers.get("Lastseen-Language") not in {None, "", "und"}:  # said by the capture (crawler.media)
                language = headers["Lastseen-Language"]
            automatic = automatic or headers.get("Lastseen-Caption") == "automatic"
            try:
                cues = cues_of(body)
            except ValueError as exc:
                tracks.append({"uri": uri, "language": language, "error": str(exc)})
                continue
            tracks.append({"uri": uri, "language": language, "automatic": automatic, "cues": cues})
            lines += [{**cue, "language": language, "confidence": None} for cue in cues]
        lines.sort(key=lambda line: (line["start"], line["language"] or ""))
        first = next((track["language"] for track in tracks if track.get("cues")), None)
        return Reading(first, lines, {"tracks": tracks}, None if lines else "no captions kept")
    return read
