"""WARC/1.1 files: writing records (writer, records), reading them back, CDXJ indexes.

The package's front door: consumers import from `archive.warc`, not from its modules (writer, reader,
index), so those can change shape without touching them. Only the format lives here: exporting a collection
(which reads the database) is archive.export, a layer up.

Each module loads when one of its names is first used, so a command that reads one record does not load
writing or indexing.
"""

from __future__ import annotations

from archive.lazy import lazy_names

# this package's modules and the names each holds
_MODULES: dict[str, str] = {
    "index": "salvage write_cdxj write_index",
    "reader": "ArchivedRecord RecordBody WarcError decoded_body iter_records open_record read_record",
    "records": "RENDERED_URI_PREFIX custody_warcinfo prepare_rendered prepare_resource prepare_screenshot",
    "writer": ("METADATA_URI_PREFIX SCREENSHOT_URI_PREFIX ClosedWarc ExchangeRecords PreparedFile PreparedRecord "
               "RevisitTarget RollingWarcWriter WarcRecordInfo prepare_metadata sha1_b32"),
}
__all__, __getattr__ = lazy_names(__name__, _MODULES)
