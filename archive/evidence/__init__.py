"""Evidence-grade captures: RFC 3161 trusted time for stored files, and checking that kept bytes still hold.

The package's front door: consumers import from `archive.evidence`, not from its modules (timestamps,
stamping, verify).

Each module loads when one of its names is first used, so adding a source (custody) does not load
the timestamping and verifying machinery (requests, cryptography, rfc3161-client, warcio).
"""

from __future__ import annotations

from archive.lazy import lazy_names

# this package's modules and the names each holds
_MODULES: dict[str, str] = {
    "certified": "CertifiedSigner check_certified package_signer",
    "custody": ("ADDED CAPTURED DELETED EXPORTED TIMESTAMPED CustodyError command_actor custody_lines "
                "events_about record"),
    "signing": ("AnonymousSigner SigningError check_signed fingerprint key_path public_key_der sign_hash "
                "signer_fingerprint signing_key"),
    "stamping": ("StampOutcome collection_warc_uris stamp_file stamp_local stored_warc_uris timestamp_stored "
                 "token_keys"),
    "timestamps": ("HttpTimestampAuthority Stamp TimestampAuthority TimestampError authorities load_certificates "
                   "verify_token"),
    "verify": "NO_TSA_CERTIFICATE FileReport verify_paths verify_stored",
}
__all__, __getattr__ = lazy_names(__name__, _MODULES)
