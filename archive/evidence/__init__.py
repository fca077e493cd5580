"""Evidence-grade captures: RFC 3161 trusted time for stored files, and checking that kept bytes still hold.

The package's front door: consumers import from `archive.evidence`, not from its modules (timestamps,
stamping, verify).
"""

from archive.evidence.stamping import StampOutcome, stamp_file, stored_warc_uris, timestamp_stored, token_keys
from archive.evidence.timestamps import (
    HttpTimestampAuthority,
    Stamp,
    TimestampAuthority,
    TimestampError,
    authorities,
    load_certificates,
    verify_token,
)
from archive.evidence.verify import FileReport, verify_paths, verify_stored

__all__ = [
    "FileReport",
    "HttpTimestampAuthority",
    "Stamp",
    "StampOutcome",
    "TimestampAuthority",
    "TimestampError",
    "authorities",
    "load_certificates",
    "stamp_file",
    "stored_warc_uris",
    "timestamp_stored",
    "token_keys",
    "verify_paths",
    "verify_stored",
    "verify_token",
]
