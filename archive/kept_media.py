"""A kept video's media as the readers see it: its file, read back from its WARC record (Video.media_capture_id)
on first use, and the records stored with it (its info JSON, subtitles, thumbnail: WARC-Concurrent-To it).

Shared by the stages that read kept videos (footage, words): one reader of media out of the archive.
"""

from __future__ import annotations

import io
import shutil
import zlib
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archive.models import Capture
from archive.storage import StorageError
from archive.workspace import Workspace

READ_CHUNK = 16 * 1024 * 1024  # bytes of a WARC record read from storage at once
BESIDE_SPAN = 16 * 1024 * 1024  # bytes after the media record read for the records stored with it


class KeptMedia:
    """One kept video's media record in storage, read lazily into `folder`."""

    def __init__(self, ws: Workspace, capture: Capture, folder: Path) -> None:
        self.ws, self.capture, self.folder = ws, capture, folder
        self._file: Path | None = None

    def file(self) -> Path:
        """The media payload as a file (read from storage in chunks, once)."""
        if self._file is None:
            self._file = media_to_file(self.ws, self.capture, self.folder)
        return self._file

    def beside(self) -> list[tuple[str, dict[str, str], bytes]]:
        """(type, WARC headers, payload) of the records written right after the media and concurrent to it."""
        capture, storage = self.capture, self.ws.storage
        if not capture.record_id:
            return []
        key = storage.key_of(capture.warc_uri)
        start = capture.warc_offset + capture.warc_length
        try:
            data = storage.read(key, start, BESIDE_SPAN)
        except StorageError:  # S3 refuses a range past the end: the media record is the file's last
            return []
        found = []
        try:
            for record in ArchiveIterator(io.BytesIO(data), check_digests=False):
                if record.rec_headers.get_header("WARC-Concurrent-To") != capture.record_id:
                    break
                headers: dict[str, Any] = dict(record.rec_headers.headers)
                found.append((record.rec_type, headers, record.content_stream().read()))
        except (ArchiveLoadFailed, EOFError, OSError, ValueError, zlib.error):  # a record cut by the span's end
            pass
        return found


def media_to_file(ws: Workspace, capture: Capture, folder: Path) -> Path:
    """The media payload of a capture's WARC record, written to a file in `folder` (read in chunks)."""
    key = ws.storage.key_of(capture.warc_uri)
    record_path, media_path = folder / "record.warc.gz", folder / "media"
    with record_path.open("wb") as out:
        for start in range(0, capture.warc_length, READ_CHUNK):
            out.write(ws.storage.read(key, capture.warc_offset + start,
                                      min(READ_CHUNK, capture.warc_length - start)))
    with record_path.open("rb") as raw, media_path.open("wb") as out:
        for record in ArchiveIterator(raw, check_digests=False):
            shutil.copyfileobj(record.content_stream(), out, READ_CHUNK)
            break
    record_path.unlink()
    return media_path
