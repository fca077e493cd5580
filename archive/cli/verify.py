"""`lastseen verify` and `lastseen timestamp`: check that kept bytes still hold; get trusted time for them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.cli.output import Output
from archive.errors import EXIT_OK, EXIT_PARTIAL, EXIT_UNCHECKED, UsageError
from archive.storage import StorageError
from archive.workspace import Workspace

if TYPE_CHECKING:
    from cryptography import x509

    from archive.evidence import FileReport

_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")


def _roots(args: argparse.Namespace, ws: Workspace) -> list[x509.Certificate]:
    """The certificates tokens are checked with: --tsa-cert, else LASTSEEN_TSA_CERTS."""
    from archive.evidence import TimestampError, load_certificates  # cryptography loads for these commands only

    try:
        return load_certificates(args.tsa_cert or ws.settings.tsa_certs)
    except TimestampError as exc:
        raise UsageError(str(exc)) from None


def _line(report: FileReport) -> str:
    """FAILED with every problem; UNCHECKED when only a token's signature could not be checked; else ok."""
    from archive.evidence import NO_TSA_CERTIFICATE

    if not report.ok:
        return f"FAILED  {report.name}: {'; '.join(report.problems)}"
    times = ", ".join(token["time"] for token in report.tokens)
    stamped = f"timestamped {times}" if times else "no timestamp token"
    if report.signer is None:
        signed = ""
    elif report.signed_by:
        signed = f", signed by {report.signer} {report.signed_by}"
    else:
        signed = ", unsigned"
    if report.unchecked:
        return (f"UNCHECKED {report.name}  sha256:{report.sha256[:16]}  {report.records} records, {stamped}"
                f"{signed}: {NO_TSA_CERTIFICATE}")
    return f"ok      {report.name}  sha256:{report.sha256[:16]}  {report.records} records, {stamped}{signed}"


def _own_key(ws: Workspace) -> str | None:
    """This deployment's WACZ signing key's fingerprint, when it has one (verify never makes one)."""
    from archive.evidence import SigningError, signer_fingerprint

    try:
        return signer_fingerprint(ws.settings)
    except SigningError:
        return None


def cmd_verify(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """One line per file; exit 0 when every file, record digest and token holds, 1 when one fails, 4 when all
    holds but a token's signature could not be checked (no TSA certificate given)."""
    if args.collection and args.files:
        raise UsageError("give -c COLLECTION or FILEs, not both")
    from archive.evidence import verify_paths, verify_stored

    roots = _roots(args, ws)
    pinned = args.key or ws.settings.wacz_signer or None
    if pinned and not _FINGERPRINT.fullmatch(pinned):
        raise UsageError(f"--key wants a key fingerprint, sha256: and 64 hex digits, not {pinned!r}")
    if args.files:
        reports = verify_paths([Path(name) for name in args.files], roots, pinned=pinned, own=_own_key(ws))
    else:
        reports = verify_stored(ws, roots, args.collection)
    failed = [report for report in reports if not report.ok]
    unchecked = [report for report in reports if report.ok and report.unchecked]
    if out.as_json:
        out.json([report.as_dict() for report in reports])
    elif not reports:
        out.line("no WARC files to verify")
    else:
        for report in reports:
            out.line(_line(report))
    if failed:
        out.warn(f"lastseen: {len(failed)} of {len(reports)} file(s) failed verification")
        return EXIT_PARTIAL
    if unchecked:
        out.warn(f"lastseen: {len(unchecked)} file(s) intact, but the time's signature was not checked: "
                 "give the TSA's certificates (--tsa-cert or LASTSEEN_TSA_CERTS)")
        return EXIT_UNCHECKED
    return EXIT_OK


def _shown(ws: Workspace, uri: str) -> str:
    """A stored file's key (short, as `verify` names it), or its URI when it is not in this storage."""
    try:
        return ws.storage.key_of(uri)
    except StorageError:
        return uri


def cmd_timestamp(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Ask the TSAs for tokens of stored WARC files none has stamped yet; exit 1 when a TSA failed."""
    from archive.evidence import TimestampError, authorities, command_actor, timestamp_stored

    try:
        tsas = authorities(ws.settings)
    except TimestampError as exc:
        raise UsageError(str(exc)) from None
    if not tsas:
        raise UsageError("no timestamp authority configured (set LASTSEEN_TSA_URLS)")
    outcomes = timestamp_stored(ws, tsas, args.collection, actor=command_actor("timestamp"))
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if out.as_json:
        out.json([outcome.as_dict() for outcome in outcomes])
    else:
        for outcome in outcomes:
            if outcome.ok:
                out.line(f"stamped {outcome.detail}  by {outcome.tsa_url}")
            else:
                out.line(f"FAILED  {_shown(ws, outcome.file_uri)}: {outcome.detail}")
        out.line(f"{len(outcomes) - len(failed)} token(s) kept, {len(failed)} failed (asked again next time)")
    return EXIT_PARTIAL if failed else EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `verify` and `timestamp` to the command line."""
    p = sub.add_parser("verify", parents=[common],
                       help="recompute digests of stored WARC files (or FILEs, or a WACZ) and check their timestamps")
    p.add_argument("files", nargs="*", metavar="FILE", help="local WARC or WACZ files (default: the stored ones)")
    p.add_argument("-c", "--collection", help="only this collection's WARC files")
    p.add_argument("--tsa-cert", action="append", metavar="PEM",
                   help="CA (and TSA) certificates to check tokens with (default LASTSEEN_TSA_CERTS)")
    p.add_argument("--key", metavar="FINGERPRINT",
                   help="a WACZ must be signed by this key, sha256:HEX (default LASTSEEN_WACZ_SIGNER)")
    p.set_defaults(handler=cmd_verify)
    p = sub.add_parser("timestamp", parents=[common],
                       help="get RFC 3161 timestamp tokens for stored WARC files that have none yet")
    p.add_argument("-c", "--collection", help="only this collection's WARC files")
    p.set_defaults(handler=cmd_timestamp)
