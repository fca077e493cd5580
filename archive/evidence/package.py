"""Checking a WACZ from the file alone: its package digest and signer, every resource, the WARCs inside.

Every member is read as a stream (a WARC through `records`), the small JSON ones with a size bound, so a
zip bomb costs time, not memory. Duplicate member names fail (tools disagree on which one is meant). The
signer is judged against a pinned key fingerprint when one is given: unsigned or signed by another key
then fails; otherwise it is said plainly.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archive.evidence.certified import check_certified
from archive.evidence.records import Members, check_records
from archive.evidence.signing import check_signed
from archive.net.http import one_line

JSON_LIMIT = 16 * 1024 * 1024  # datapackage.json of some 100,000 files; far more is a bomb
TOKEN_LIMIT = 1024 * 1024  # an RFC 3161 answer is a few KiB


class Refused(Exception):
    """A member that cannot be taken as what it claims to be; one line for the report."""


def read_bounded(package: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, refusing to inflate past limit (its declared size may lie)."""
    with package.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"{name} is larger than {limit // 1024} KiB")
    return data


def _json_object(package: zipfile.ZipFile, name: str) -> tuple[bytes, dict[str, Any]]:
    try:
        data = read_bounded(package, name, JSON_LIMIT)
        parsed = json.loads(data)
    except KeyError:
        raise Refused(f"{name} is missing") from None
    except (ValueError, RecursionError) as exc:
        raise Refused(f"{name} is not JSON: {one_line(str(exc), 120)}") from None
    if not isinstance(parsed, dict):
        raise Refused(f"{name} is not a JSON object")
    return data, parsed


class WaczCheck:
    """One WACZ's check; `problems` collects what fails, `signed_by` and `signer` say who signed it."""

    def __init__(self, check_tokens: Callable[[bytes, list[tuple[str, bytes]]], None],
                 pinned: str | None, own: str | None) -> None:
        self.check_tokens = check_tokens  # (sha256, [(name, der)]): checks them into the report
        self.pinned = pinned
        self.own = own
        self.problems: list[str] = []
        self.records = 0
        self.signed_by: str | None = None
        self.signer = "unsigned"

    def run(self, path: Path) -> None:
        try:
            with zipfile.ZipFile(path) as package:
                names = package.namelist()
                twice = sorted(name for name, count in Counter(names).items() if count > 1)
                if twice:
                    self.problems.append(f"member name {twice[0]!r} appears more than once in the package")
                    return
                for resource in self._resources(package):
                    self._resource(package, set(names), resource)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
            self.problems.append(f"not a readable WACZ: {one_line(str(exc), 200)}")
        except Refused as exc:
            self.problems.append(str(exc))

    def _resources(self, package: zipfile.ZipFile) -> list[dict[str, Any]]:
        """datapackage.json's resources, once datapackage-digest.json vouches for it; the signer judged."""
        data, datapackage = _json_object(package, "datapackage.json")
        resources = datapackage.get("resources")
        if not isinstance(resources, list) or not all(isinstance(item, dict) for item in resources):
            raise Refused("datapackage.json's resources is not a list of objects")
        _, digest = _json_object(package, "datapackage-digest.json")
        claimed = digest.get("hash")
        if claimed != "sha256:" + hashlib.sha256(data).hexdigest():
            self.problems.append("datapackage.json does not match datapackage-digest.json")
        if "signedData" in digest:
            signed = digest["signedData"]
            if not isinstance(signed, dict):
                raise Refused("signedData is not an object")
            check = check_signed if "publicKey" in signed else check_certified
            self.signed_by, problems = check(signed, str(claimed), datapackage.get("created"))
            self.problems += problems
        self._judge_signer()
        return resources

    def _judge_signer(self) -> None:
        if self.signed_by is None:
            self.signer = "unsigned"
            if self.pinned:
                self.problems.append(f"unsigned, but a signature by {self.pinned} is required")
        elif self.pinned:
            self.signer = "the required key" if self.signed_by == self.pinned else "another key"
            if self.signed_by != self.pinned:
                self.problems.append(f"signed by another key ({self.signed_by}), not the required {self.pinned}")
        else:
            self.signer = "this deployment's key" if self.signed_by == self.own else "another key"

    def _resource(self, package: zipfile.ZipFile, names: set[str], resource: dict[str, Any]) -> None:
        """A resource's bytes match the package's hash and size; a WARC's records and tokens hold too."""
        name = resource.get("path")
        if not isinstance(name, str) or name not in names:
            self.problems.append(f"{name}: listed in datapackage.json but not in the package")
            return
        with package.open(name) as member:
            # zipfile would refuse the whole member on a CRC-32 mismatch before handing over its last bytes; the
            # SHA-256 below says the same, and reading on lets the damaged gzip member name its record.
            member._expected_crc = None  # type: ignore[attr-defined]
            members = Members(member.read)
            if name.endswith((".warc", ".warc.gz")):
                records, problems = check_records(members, f"{name}: ")
                self.records += records
                self.problems += problems
            digest = members.finish()
        if resource.get("hash") != "sha256:" + digest.hex():
            self.problems.append(f"{name}: SHA-256 is not the one datapackage.json gives")
        size = resource.get("bytes")
        if size is not None and size != package.getinfo(name).file_size:
            self.problems.append(f"{name}: size is not the one datapackage.json gives")
        tokens = [(token, read_bounded(package, token, TOKEN_LIMIT)) for token in sorted(names)
                  if token.startswith(name + ".") and token.endswith(".tsr")]
        self.check_tokens(digest, tokens)
