"""Kept media read back for the footage jobs (fingerprints, variants, images): one definition of a record that
cannot be read back (bytes missing or rotted in storage, a broken WARC or gzip stream, no memory) and one reason
for it, a FootageError each job stores as its failure, so one bad record never stops a round. Storage that cannot
be reached now is not the record's fault: StorageUnavailable leaves the item to a later round (footage.round).
"""

from __future__ import annotations

import zlib
from pathlib import Path

from warcio.exceptions import ArchiveLoadFailed

from archive.footage.frames import NO_MEMORY, FootageError, one_line
from archive.kept_media import media_to_file
from archive.models import Capture
from archive.storage import StorageError, StorageUnavailable
from archive.workspace import Workspace

UNREADABLE = (StorageError, ArchiveLoadFailed, EOFError, OSError, zlib.error)  # kept media that cannot be read back


def kept_file(ws: Workspace, capture: Capture | None, folder: Path) -> Path:
    """A kept record's payload written to a file in `folder`; FootageError when none is kept or it cannot be read."""
    if capture is None:
        raise FootageError("no kept media")
    try:
        return media_to_file(ws, capture, folder)
    except StorageUnavailable:
        raise  # the storage, not the record: nothing is stored, and a later round tries again
    except UNREADABLE as exc:
        raise FootageError(f"kept media cannot be read back: {one_line(exc) or type(exc).__name__}") from None
    except MemoryError:
        raise FootageError(NO_MEMORY) from None
