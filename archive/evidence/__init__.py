"""Evidence-grade captures: RFC 3161 trusted time for stored files, and checking that kept bytes still hold.

The package's front door: consumers import from `archive.evidence`, not from its modules (timestamps,
stamping, verify).
"""

from archive.evidence.certified import CertifiedSigner, check_certified, package_signer
from archive.evidence.custody import (
    ADDED,
    CAPTURED,
    DELETED,
    EXPORTED,
    TIMESTAMPED,
    CustodyError,
    command_actor,
    custody_lines,
    events_about,
    record,
)
from archive.evidence.signing import (
    AnonymousSigner,
    SigningError,
    check_signed,
    fingerprint,
    key_path,
    public_key_der,
    sign_hash,
    signer_fingerprint,
    signing_key,
)
from archive.evidence.stamping import (
    StampOutcome,
    collection_warc_uris,
    stamp_file,
    stamp_local,
    stored_warc_uris,
    timestamp_stored,
    token_keys,
)
from archive.evidence.timestamps import (
    HttpTimestampAuthority,
    Stamp,
    TimestampAuthority,
    TimestampError,
    authorities,
    load_certificates,
    verify_token,
)
from archive.evidence.verify import NO_TSA_CERTIFICATE, FileReport, verify_paths, verify_stored

__all__ = [
    "AnonymousSigner",
    "CertifiedSigner",
    "check_certified",
    "package_signer",
    "ADDED",
    "CAPTURED",
    "DELETED",
    "EXPORTED",
    "TIMESTAMPED",
    "CustodyError",
    "command_actor",
    "custody_lines",
    "events_about",
    "record",
    "FileReport",
    "NO_TSA_CERTIFICATE",
    "HttpTimestampAuthority",
    "Stamp",
    "SigningError",
    "StampOutcome",
    "TimestampAuthority",
    "TimestampError",
    "authorities",
    "check_signed",
    "fingerprint",
    "key_path",
    "public_key_der",
    "sign_hash",
    "signer_fingerprint",
    "signing_key",
    "stamp_local",
    "load_certificates",
    "stamp_file",
    "stored_warc_uris",
    "collection_warc_uris",
    "timestamp_stored",
    "token_keys",
    "verify_paths",
    "verify_stored",
    "verify_token",
]
