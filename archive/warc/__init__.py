"""WARC/1.1 files: writing records, reading them back, CDXJ indexes, WACZ export.

The package's front door: consumers import from `archive.warc`, not from its modules (writer, reader,
index, export), so those can change shape without touching them.
"""

from archive.warc.export import export_collection, write_wacz
from archive.warc.index import salvage, write_cdxj, write_index
from archive.warc.reader import ArchivedRecord, WarcError, decoded_body, iter_records, read_record
from archive.warc.writer import (
    ClosedWarc,
    ExchangeRecords,
    PreparedRecord,
    RevisitTarget,
    RollingWarcWriter,
    WarcRecordInfo,
    prepare_metadata,
    sha1_b32,
)

__all__ = [
    "ArchivedRecord",
    "ClosedWarc",
    "ExchangeRecords",
    "PreparedRecord",
    "RevisitTarget",
    "RollingWarcWriter",
    "WarcError",
    "WarcRecordInfo",
    "decoded_body",
    "export_collection",
    "iter_records",
    "prepare_metadata",
    "read_record",
    "salvage",
    "sha1_b32",
    "write_cdxj",
    "write_index",
    "write_wacz",
]
