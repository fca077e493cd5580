"""Do the kept bytes still say what they said? The logic of `lastseen verify`, one report per file.

For each WARC file (stored, or a local file, or every WARC inside an exported WACZ): its SHA-256 is
recomputed, every record's WARC-Payload-Digest and WARC-Block-Digest is recomputed (warcio's digest
checking, as `warcio check` uses it), and each timestamp token kept beside it must be for that SHA-256
and signed by a TSA certificate chaining to the certificates given. A WACZ is checked from the file alone
(no database): datapackage-digest.json and its signature (WACZ signing), every resource's hash and size, the
WARCs inside and their tokens (``archive/<file>.tsr`` in the package), and tokens of the package itself
(``FILE.wacz.tsr`` beside it).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from archive.db import session_scope
from archive.errors import UsageError
from archive.evidence.signing import check_signed
from archive.evidence.stamping import stored_warc_uris, token_keys
from archive.evidence.timestamps import TimestampError, verify_token
from archive.models import TimestampToken
from archive.net.http import one_line
from archive.storage import Storage, StorageError
from archive.timefmt import iso
from archive.workspace import Workspace

_CHUNK = 8 * 1024 * 1024


@dataclass
class FileReport:
    """What verifying one file found: its SHA-256, records read, tokens that hold, and every problem."""

    name: str
    sha256: str = ""
    records: int = 0
    tokens: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    signed_by: str | None = None  # a WACZ's signing key (its fingerprint) when its signature holds

    @property
    def ok(self) -> bool:
        """Whether everything checked holds."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.name, "ok": self.ok, "sha256": self.sha256, "records": self.records,
                "tokens": self.tokens, "signed_by": self.signed_by, "problems": self.problems}


class _HashingStream(io.RawIOBase):
    """A read-once stream over a sequential reader, hashing (SHA-256) every byte that passes."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.hash.update(chunk)
        return len(chunk)

    def finish(self) -> bytes:
        """Read what is left (after a damaged record, say) and give the SHA-256 of all the bytes."""
        while chunk := self._read(_CHUNK):
            self.hash.update(chunk)
        return self.hash.digest()


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


def _check_records(raw: _HashingStream, report: FileReport, label: str = "") -> bytes:
    """Recompute every record's digests while hashing the whole file; the file's SHA-256."""
    stream = io.BufferedReader(raw, buffer_size=_CHUNK)
    iterator = ArchiveIterator(stream, check_digests=True)
    try:
        for record in iterator:
            while record.raw_stream.read(_CHUNK):
                pass
            report.records += 1
            if record.digest_checker.passed is False:
                record_id = record.rec_headers.get_header("WARC-Record-ID") or "?"
                report.problems += [f"{label}record {record_id} at offset {iterator.get_record_offset()}: {problem}"
                                    for problem in record.digest_checker.problems]
    except Exception as exc:  # warcio and zlib raise many kinds on damaged bytes; each becomes one reason
        text = "".join(char if char.isprintable() else "?" for char in one_line(str(exc), 80))
        report.problems.append(f"{label}unreadable after {report.records} record(s): {text or type(exc).__name__}")
    else:
        if report.records == 0:
            report.problems.append(f"{label}no WARC records")
    while stream.read(_CHUNK):
        pass
    return raw.finish()


def _check_tokens(report: FileReport, sha256: bytes, tokens: Sequence[tuple[str, bytes]],
                  roots: Sequence[x509.Certificate]) -> None:
    """Each token must be granted, for this SHA-256, and signed by a TSA chaining to roots."""
    for name, der in tokens:
        try:
            when = verify_token(der, sha256, roots, f"token {name}")
        except TimestampError as exc:
            report.problems.append(str(exc))
        else:
            report.tokens.append({"token": name, "time": iso(when) or ""})


def verify_stored(ws: Workspace, roots: Sequence[x509.Certificate], collection: str | None = None) -> list[FileReport]:
    """Verify every stored WARC file (or a collection's), with the tokens kept beside each."""
    return [_verify_stored_file(ws, uri, roots) for uri in stored_warc_uris(ws, collection)]


def _verify_stored_file(ws: Workspace, uri: str, roots: Sequence[x509.Certificate]) -> FileReport:
    storage = ws.storage
    try:
        key = storage.key_of(uri)
        report = FileReport(key)
        raw = _HashingStream(_ranged_reader(storage, key))
    except StorageError as exc:
        return FileReport(uri, problems=[str(exc)])
    try:
        digest = _check_records(raw, report)
        tokens = [(found, storage.read(found)) for found in token_keys(storage, key)]
    except StorageError as exc:
        report.problems.append(str(exc))
        return report
    report.sha256 = digest.hex()
    _check_tokens(report, digest, tokens, roots)
    with session_scope(ws.sessions) as session:
        recorded = session.scalars(select(TimestampToken.token_uri).where(TimestampToken.file_uri == uri)).all()
    kept = {storage.uri(found) for found, _ in tokens}
    report.problems += [f"token {token_uri} is recorded but missing from storage"
                        for token_uri in recorded if token_uri not in kept]
    return report


def verify_paths(paths: Sequence[Path], roots: Sequence[x509.Certificate]) -> list[FileReport]:
    """Verify local files: WARC files (with ``FILE.tsr`` tokens beside them) and WACZ packages."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise UsageError(f"no such file: {missing[0]}")
    return [_verify_wacz(path, roots) if path.suffix.lower() == ".wacz" else _verify_warc_file(path, roots)
            for path in paths]


def _local_tokens(path: Path) -> list[tuple[str, bytes]]:
    """``FILE.tsr`` and ``FILE.<n>.tsr`` beside a local file."""
    found = [path.with_name(path.name + ".tsr")] + sorted(path.parent.glob(f"{path.name}.[0-9]*.tsr"))
    return [(str(token), token.read_bytes()) for token in found if token.is_file()]


def _verify_warc_file(path: Path, roots: Sequence[x509.Certificate]) -> FileReport:
    report = FileReport(str(path))
    with path.open("rb") as handle:
        digest = _check_records(_HashingStream(handle.read), report)
    report.sha256 = digest.hex()
    _check_tokens(report, digest, _local_tokens(path), roots)
    return report


def _verify_wacz(path: Path, roots: Sequence[x509.Certificate]) -> FileReport:
    """One report for a WACZ: its package digest, every resource, the WARCs inside, their tokens and its own."""
    report = FileReport(str(path))
    try:
        with zipfile.ZipFile(path) as package:
            names = set(package.namelist())
            resources = _package_resources(package, report)
            for resource in resources:
                _verify_resource(package, names, resource, report, roots)
    except (zipfile.BadZipFile, OSError) as exc:
        report.problems.append(f"not a readable WACZ: {one_line(str(exc), 200)}")
    with path.open("rb") as handle:
        digest = _HashingStream(handle.read).finish()
    report.sha256 = digest.hex()
    _check_tokens(report, digest, _local_tokens(path), roots)
    return report


def _package_resources(package: zipfile.ZipFile, report: FileReport) -> list[dict[str, Any]]:
    """datapackage.json's resources, once datapackage-digest.json vouches for it."""
    try:
        data = package.read("datapackage.json")
        resources: list[dict[str, Any]] = json.loads(data)["resources"]
    except (KeyError, ValueError, TypeError) as exc:
        report.problems.append(f"datapackage.json missing or unreadable: {one_line(str(exc), 200)}")
        return []
    try:
        digest = json.loads(package.read("datapackage-digest.json"))
        claimed = digest["hash"]
    except (KeyError, ValueError, TypeError):
        report.problems.append("datapackage-digest.json missing or unreadable")
        return resources
    if claimed != "sha256:" + hashlib.sha256(data).hexdigest():
        report.problems.append("datapackage.json does not match datapackage-digest.json")
    if "signedData" in digest:
        report.signed_by, problems = check_signed(digest["signedData"], claimed, json.loads(data).get("created"))
        report.problems += problems
    return resources


def _verify_resource(package: zipfile.ZipFile, names: set[str], resource: dict[str, Any], report: FileReport,
                     roots: Sequence[x509.Certificate]) -> None:
    """A resource's bytes match the package's hash and size; a WARC's records and tokens hold too."""
    name = str(resource.get("path", ""))
    if name not in names:
        report.problems.append(f"{name}: listed in datapackage.json but not in the package")
        return
    with package.open(name) as member:
        raw = _HashingStream(member.read)
        if name.endswith((".warc", ".warc.gz")):
            digest = _check_records(raw, report, f"{name}: ")
        else:
            digest = raw.finish()
    if resource.get("hash") != "sha256:" + digest.hex():
        report.problems.append(f"{name}: SHA-256 is not the one datapackage.json gives")
    if resource.get("bytes") is not None and resource["bytes"] != package.getinfo(name).file_size:
        report.problems.append(f"{name}: size is not the one datapackage.json gives")
    tokens = [(token, package.read(token)) for token in sorted(names)
              if token.startswith(name + ".") and token.endswith(".tsr")]
    _check_tokens(report, digest, tokens, roots)

