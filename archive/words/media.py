"""A kept video's media read back from its WARC record (Video.media_capture_id) into a file, in chunks.

The footage stage reads media the same way; the two belong in one reader a layer down (see the issue #25 report).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archive.models import Capture
from archive.workspace import Workspace

READ_CHUNK = 16 * 1024 * 1024  # bytes of a WARC record read from storage at once


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
