"""CDXJ indexes of WARC files, and salvage of a file a crawl left cut off in the spool."""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

import surt
from cdxj_indexer.main import write_cdx_index

from archive.warc.reader import iter_records
from archive.warc.writer import ClosedWarc

logger = logging.getLogger(__name__)


def write_index(closed: ClosedWarc) -> Path:
    """The file's sorted CDXJ index (`FILE.warc.gz.cdxj`), from the entries noted while it was written
    (or, for a file salvaged from the spool, read back from the file)."""
    if not closed.index:
        return write_cdxj(closed.path)
    keys: dict[str, str] = {}
    lines = []
    for uri, stamp, fields in closed.index:
        key = keys.get(uri)
        if key is None:
            key = keys[uri] = surt.surt(uri)
        lines.append(f"{key} {stamp} {fields}\n")
    lines.sort()
    out = closed.path.with_name(closed.path.name + ".cdxj")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(out)
    return out


def salvage(path: Path) -> ClosedWarc | None:
    """A spool file left by a crawl that died: closed files as they are (records not counted: 0); an `.open`
    one cut back to its last whole record and renamed. None when nothing whole is left in it."""
    if path.name.endswith(".warc.gz"):
        return ClosedWarc(path=path, size=path.stat().st_size, records=0)
    if not path.name.endswith(".warc.gz.open"):
        return None
    end, records = 0, 0
    try:
        with path.open("rb") as fh:
            for offset, length, _record in iter_records(path):
                fh.seek(offset)
                member = zlib.decompressobj(wbits=31)
                member.decompress(fh.read(length))
                if not member.eof:  # the record being written when the process died
                    break
                end, records = offset + length, records + 1
    except Exception as exc:  # a cut-short record can also fail to parse at all
        logger.warning("%s ends in a partial record after %d whole ones: %s", path.name, records, exc)
    if records == 0:
        return None
    with path.open("r+b") as fh:
        fh.truncate(end)
        os.fsync(fh.fileno())
    final = path.with_name(path.name.removesuffix(".open"))
    path.replace(final)
    return ClosedWarc(path=final, size=end, records=records)


def write_cdxj(warc_path: Path, out_path: Path | None = None) -> Path:
    """A sorted CDXJ index of a WARC file (default: `FILE.warc.gz.cdxj` beside it), as pywb and ReplayWeb.page read."""
    out_path = out_path or warc_path.with_name(warc_path.name + ".cdxj")
    tmp = out_path.with_name(out_path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        write_cdx_index(out, [str(warc_path)], {"sort": True, "post_append": True})
    tmp.replace(out_path)
    return out_path
