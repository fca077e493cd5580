"""WARC/1.1 files: writing records (writer, records), reading them back, CDXJ indexes.

The package's front door: consumers import from `archive.warc`, not from its modules (writer, reader,
index), so those can change shape without touching them. Only the format lives here: exporting a collection
(which reads the database) is archive.export, a layer up.
"""

from archive.warc.index import salvage, write_cdxj, write_index
from archive.warc.reader import (
    ArchivedRecord,
    RecordBody,
    WarcError,
    decoded_body,
    iter_records,
    open_record,
    read_record,
)
from archive.warc.records import custody_warcinfo, prepare_resource, prepare_screenshot
from archive.warc.writer import (
    METADATA_URI_PREFIX,
    SCREENSHOT_URI_PREFIX,
    ClosedWarc,
    ExchangeRecords,
    PreparedFile,
    PreparedRecord,
    RevisitTarget,
    RollingWarcWriter,
    WarcRecordInfo,
    prepare_metadata,
    sha1_b32,
)

__all__ = [
    "METADATA_URI_PREFIX",
    "SCREENSHOT_URI_PREFIX",
    "ArchivedRecord",
    "RecordBody",
    "ClosedWarc",
    "ExchangeRecords",
    "PreparedFile",
    "PreparedRecord",
    "RevisitTarget",
    "RollingWarcWriter",
    "WarcError",
    "WarcRecordInfo",
    "custody_warcinfo",
    "decoded_body",
    "iter_records",
    "prepare_metadata",
    "prepare_screenshot",
    "prepare_resource",
    "open_record",
    "read_record",
    "salvage",
    "sha1_b32",
    "write_cdxj",
    "write_index",
]
