"""Do the kept bytes still say what they said? The logic of `lastseen verify`, one report per file.

For each WARC file (stored, or a local file, or every WARC inside an exported WACZ): every gzip member's
CRC, every record's WARC-Block-Digest and WARC-Payload-Digest (`records`), its SHA-256 against what the
database recorded for it, and each timestamp token kept beside it: for that SHA-256 and signed by a TSA
certificate chaining to the certificates given (without certificates, a token's signature is reported as
not checked, apart from failures). A WACZ is checked from the file alone
(no database): datapackage-digest.json and its signature (WACZ signing), every resource's hash and size, the
WARCs inside and their tokens (``archive/<file>.tsr`` in the package), and tokens of the package itself
(``FILE.wacz.tsr`` beside it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select

from archive.db import session_scope
from archive.errors import UsageError
from archive.evidence.custody import CAPTURED
from archive.evidence.package import WaczCheck
from archive.evidence.records import Members, check_records
from archive.evidence.stamping import stored_warc_uris, token_keys
from archive.evidence.timestamps import TimestampError, token_time, verify_token
from archive.models import CustodyEvent, TimestampToken
from archive.storage import Storage, StorageError
from archive.timefmt import iso
from archive.workspace import Workspace

_CHUNK = 4 * 1024 * 1024
NO_TSA_CERTIFICATE = "signature of the time not checked (no TSA certificate)"


@dataclass
class FileReport:
    """What verifying one file found: its SHA-256, records read, tokens that hold, and every problem."""

    name: str
    sha256: str = ""
    records: int = 0
    tokens: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    signed_by: str | None = None  # a WACZ's signing key (its fingerprint) when its signature holds
    signer: str | None = None  # a WACZ's: "unsigned", "this deployment's key", "another key", "the required key"
    unchecked: list[str] = field(default_factory=list)  # tokens whose signature could not be checked

    @property
    def ok(self) -> bool:
        """Whether nothing checked failed (tokens left unchecked are said apart, in `unchecked`)."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.name, "ok": self.ok, "sha256": self.sha256, "records": self.records,
                "tokens": self.tokens, "signed_by": self.signed_by, "signer": self.signer,
                "unchecked": self.unchecked, "problems": self.problems}


def _ranged_reader(storage: Storage, key: str) -> Callable[[int], bytes]:
    """Sequential reads of a stored object, as ranged reads (objects may be gigabytes)."""
    size = storage.size(key)
    position = 0

    def read(length: int) -> bytes:
        nonlocal position
        if position >= size:
            return b""
        chunk = storage.read(key, position, min(length, size - position))
        position += len(chunk)
        return chunk

    return read


def _check_file(read: Callable[[int], bytes], report: FileReport) -> bytes:
    """Every gzip member, record and digest of a WARC file read once; its SHA-256."""
    members = Members(read)
    report.records, problems = check_records(members)
    report.problems += problems
    return members.finish()


def _check_tokens(report: FileReport, sha256: bytes, tokens: Sequence[tuple[str, bytes]],
                  roots: Sequence[x509.Certificate]) -> None:
    """Each token must be granted, for this SHA-256, and signed by a TSA chaining to roots."""
    for name, der in tokens:
        try:
            when = verify_token(der, sha256, roots, f"token {name}") if roots else token_time(der, sha256,
                                                                                              f"token {name}")
        except TimestampError as exc:
            report.problems.append(str(exc))
            continue
        report.tokens.append({"token": name, "time": iso(when) or ""})
        if not roots:
            report.unchecked.append(f"token {name}: {NO_TSA_CERTIFICATE}")


def verify_stored(ws: Workspace, roots: Sequence[x509.Certificate], collection: str | None = None) -> list[FileReport]:
    """Verify every stored WARC file (or a collection's), with the tokens kept beside each."""
    return [_verify_stored_file(ws, uri, roots) for uri in stored_warc_uris(ws, collection)]


def _verify_stored_file(ws: Workspace, uri: str, roots: Sequence[x509.Certificate]) -> FileReport:
    storage = ws.storage
    try:
        key = storage.key_of(uri)
        report = FileReport(key)
        digest = _check_file(_ranged_reader(storage, key), report)
        tokens = [(found, storage.read(found)) for found in token_keys(storage, key)]
    except StorageError as exc:
        return FileReport(uri, problems=[str(exc)])
    report.sha256 = digest.hex()
    _check_tokens(report, digest, tokens, roots)
    with session_scope(ws.sessions) as session:
        recorded = session.execute(select(TimestampToken.token_uri, TimestampToken.file_sha256)
                                   .where(TimestampToken.file_uri == uri)).all()
        captured = session.scalars(select(CustodyEvent.detail).where(CustodyEvent.action == CAPTURED,
                                                                     CustodyEvent.subject == uri)).all()
    kept = {storage.uri(found) for found, _ in tokens}
    report.problems += [f"token {token_uri} is recorded but missing from storage"
                        for token_uri, _ in recorded if token_uri not in kept]
    known = {sha for _, sha in recorded} | {detail.get("sha256") for detail in captured
                                            if isinstance(detail, dict) and detail.get("sha256")}
    report.problems += [f"SHA-256 is {report.sha256[:16]}..., but the database recorded {sha[:16]}... for it"
                        for sha in sorted(known) if sha != report.sha256]
    return report


def verify_paths(paths: Sequence[Path], roots: Sequence[x509.Certificate], *, pinned: str | None = None,
                 own: str | None = None) -> list[FileReport]:
    """Verify local files: WARC files (with ``FILE.tsr`` tokens beside them) and WACZ packages.

    A WACZ's signer must be `pinned` (a key fingerprint) when given; `own` is this deployment's, to say so.
    """
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise UsageError(f"no such file: {missing[0]}")
    return [_verify_wacz(path, roots, pinned, own) if path.suffix.lower() == ".wacz"
            else _verify_warc_file(path, roots) for path in paths]


def _local_tokens(path: Path) -> list[tuple[str, bytes]]:
    """``FILE.tsr`` and ``FILE.<n>.tsr`` beside a local file."""
    found = [path.with_name(path.name + ".tsr")] + sorted(path.parent.glob(f"{path.name}.[0-9]*.tsr"))
    return [(str(token), token.read_bytes()) for token in found if token.is_file()]


def _verify_warc_file(path: Path, roots: Sequence[x509.Certificate]) -> FileReport:
    report = FileReport(str(path))
    with path.open("rb") as handle:
        digest = _check_file(handle.read, report)
    report.sha256 = digest.hex()
    _check_tokens(report, digest, _local_tokens(path), roots)
    return report


def _verify_wacz(path: Path, roots: Sequence[x509.Certificate], pinned: str | None, own: str | None) -> FileReport:
    """One report for a WACZ: its package digest and signer, every resource, the WARCs inside, their tokens
    and its own."""
    report = FileReport(str(path))
    check = WaczCheck(lambda digest, tokens: _check_tokens(report, digest, tokens, roots), pinned, own)
    check.run(path)
    report.problems += check.problems
    report.records, report.signed_by, report.signer = check.records, check.signed_by, check.signer
    with path.open("rb") as handle:
        members = Members(handle.read)
        digest = members.finish()
    report.sha256 = digest.hex()
    _check_tokens(report, digest, _local_tokens(path), roots)
    return report
