"""Exporting a collection for researchers: one .warc.gz of its WARC files, or a WACZ package of them.

The WACZ is packed here rather than by py-wacz: py-wacz would be a runtime dependency with a dozen of its own
(frictionless, ...) only to be told our page list, and it keeps a page's text only when it detects the pages
itself. What py-wacz's `wacz validate`, pywb's `wb-manager add --unpack-wacz` and ReplayWeb.page read is checked
against the real tools in tests/test_wacz.py.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cdxj_indexer.main import write_cdx_index
from warcio.archiveiterator import ArchiveIterator

from archive import __version__
from archive.db import session_scope
from archive.errors import UsageError
from archive.evidence import (
    EXPORTED,
    SigningError,
    TimestampError,
    authorities,
    collection_warc_uris,
    custody_lines,
    events_about,
    package_signer,
    record,
    stamp_local,
    token_keys,
)
from archive.research.records import collection_records
from archive.sources import get_collection
from archive.storage import sha256_file
from archive.warc import METADATA_URI_PREFIX
from archive.workspace import Workspace

_CHUNK = 16 * 1024 * 1024
# Lines per gzip block of the ZipNum index: what py-wacz and ArchiveWeb.page write.
ZIPNUM_LINES = 1024
HTML_TYPES = {"text/html", "application/xhtml+xml"}
WACZ_VERSION = "1.1.1"
CUSTODY_FILE = "custody/custody.jsonl"  # in a folder: py-wacz expects every file in one


Signer = Callable[[str, str], dict[str, Any]]  # (datapackage.json's hash, created) -> signedData


def write_wacz(paths: list[Path], out: Path, *, title: str, pages: list[dict[str, str]] | None = None,
               extras: Sequence[tuple[str, bytes]] = (), sign: Signer | None = None) -> None:
    """A WACZ 1.1.1 package: the WARC files, a ZipNum index, pages.jsonl, datapackage.json and its digest.

    extras are more files listed in datapackage.json (a WARC's timestamp tokens as `archive/NAME.tsr`, the
    custody record, the timeline's records/*.jsonl); sign gives the digest's `signedData` (WACZ signing,
    archive.evidence).

    The index is `indexes/index.cdx.gz` (sorted CDXJ in gzip blocks of ZIPNUM_LINES lines) with
    `indexes/index.idx` (the first key of each block and where it lies), as py-wacz writes it: ReplayWeb.page
    reads blocks through the .idx, pywb's `wb-manager add --unpack-wacz` reads the .cdx.gz whole (it takes
    index files named *.cdx or *.cdx.gz only). Without `pages`, the page list comes from the records (wacz_pages).
    """
    if pages is None:
        pages = wacz_pages(paths)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tmp = out.with_name(f".{out.name}.tmp")
    resources: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        blocks, idx = Path(work) / "index.cdx.gz", Path(work) / "index.idx"
        _write_zipnum(paths, blocks, idx)
        # WARC files and index blocks are stored, not deflated: replay tools read them by ranges of the ZIP
        # itself. The page list is read whole, and deflated (its text can be large).
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as package:
            for path in paths:
                _add_file(package, resources, path, f"archive/{path.name}")
            _add_file(package, resources, blocks, "indexes/index.cdx.gz")
            _add_file(package, resources, idx, "indexes/index.idx")
            _add(package, resources, "pages/pages.jsonl", _pages_jsonl(pages))
            for name, data in extras:
                _add(package, resources, name, data)
            datapackage = {"profile": "data-package", "wacz_version": WACZ_VERSION, "title": title,
                           "created": created, "modified": created, "software": f"lastseen/{__version__}",
                           "resources": resources}
            data = json.dumps(datapackage, indent=2).encode("utf-8")
            package.writestr("datapackage.json", data)
            digest: dict[str, Any] = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(data).hexdigest()}
            if sign is not None:
                digest["signedData"] = sign(digest["hash"], created)
            package.writestr("datapackage-digest.json", json.dumps(digest))
    tmp.replace(out)


def _write_zipnum(paths: list[Path], blocks: Path, idx: Path) -> None:
    """The sorted CDXJ of every file as gzip blocks (`blocks`) and the block index (`idx`), by cdxj-indexer."""
    with blocks.open("wb") as data, idx.open("w", encoding="utf-8") as index:
        write_cdx_index(index, [str(p) for p in paths],
                        {"sort": True, "post_append": True, "compress": data, "data_out_name": blocks.name,
                         "lines": ZIPNUM_LINES, "digest_records": True})


def _pages_jsonl(pages: list[dict[str, str]]) -> bytes:
    header: dict[str, Any] = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    if any(page.get("text") for page in pages):
        header["hasText"] = True
    lines = [header] + [{"id": hashlib.sha1(f"{p['url']} {p['ts']}".encode()).hexdigest()[:22], **p}
                        for p in pages]
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")


def wacz_pages(paths: Iterable[Path]) -> list[dict[str, str]]:
    """One entry per archived HTML page, read from the records: its URL, first capture time (`ts`), title and
    main text (`text`, for full-text search).

    A page is a 200 response with an HTML media type; redirects, errors, images and media are not pages, and a
    page captured again is listed once, at its first capture. Title and text come from the page's metadata
    record (what the crawl extracted; for a page captured in a browser, from the DOM it rendered), else from
    another capture's of the same URL that has text (auto mode keeps a script shell's HTTP copy before the
    browser's); a page without any is extracted now (archive.extract.pagemeta).
    """
    pages_of: dict[str, str] = {}  # response record id -> its URL
    first: dict[str, tuple[str, Path, int, str]] = {}  # url -> (WARC-Date, file, offset, response record id)
    described: dict[str, dict[str, Any]] = {}  # response record id -> its metadata record's fields
    for path in paths:
        with path.open("rb") as fh:
            records = ArchiveIterator(fh, check_digests=False)
            for record in records:
                headers = record.rec_headers
                uri = headers.get_header("WARC-Target-URI") or ""
                if record.rec_type == "metadata" and uri.startswith(METADATA_URI_PREFIX):
                    concurrent = headers.get_header("WARC-Concurrent-To")
                    fields = _json(record.content_stream().read())
                    if concurrent and fields is not None:
                        described[concurrent] = fields
                elif record.rec_type == "response" and _is_html_page(record):
                    date = headers.get_header("WARC-Date") or ""
                    pages_of[headers.get_header("WARC-Record-ID")] = uri
                    if uri not in first or date < first[uri][0]:
                        first[uri] = (date, path, records.get_record_offset(), headers.get_header("WARC-Record-ID"))
    with_text = {pages_of[record_id]: fields for record_id, fields in described.items()
                 if record_id in pages_of and fields.get("text")}
    pages = []
    for url, (date, path, offset, record_id) in sorted(first.items(), key=lambda item: (item[1][0], item[0])):
        fields = described.get(record_id) or {}
        if not fields.get("text"):
            fields = with_text.get(url) or fields or _extract(path, offset, url)
        page = {"url": url, "ts": _iso_seconds(date), "title": fields.get("title") or url}
        if fields.get("text"):
            page["text"] = fields["text"]
        pages.append(page)
    return pages


def _is_html_page(record: Any) -> bool:
    http = record.http_headers
    if http is None or http.get_statuscode() != "200":
        return False
    mime = (http.get_header("Content-Type") or "").split(";", 1)[0].strip().lower()
    return mime in HTML_TYPES


def _json(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _extract(path: Path, offset: int, url: str) -> dict[str, Any]:
    """Title and text of the response record at offset, its body decoded as a browser would (gzip, br...)."""
    from archive.extract.pagemeta import extract_page_metadata

    with path.open("rb") as fh:
        fh.seek(offset)
        record = next(iter(ArchiveIterator(fh, check_digests=False)))
        body = record.content_stream().read()
        content_type = record.http_headers.get_header("Content-Type")
    return extract_page_metadata(body, url, content_type).as_dict()


def _iso_seconds(warc_date: str) -> str:
    """A WARC-Date (with or without fractions of a second) as the ISO time pages.jsonl gives, to the second."""
    return warc_date[:19] + "Z" if len(warc_date) >= 19 else warc_date


def _add_file(package: zipfile.ZipFile, resources: list[dict[str, Any]], path: Path, name: str) -> None:
    """Add a file that may be gigabytes, hashed by chunks, with its datapackage resource."""
    package.write(path, name)
    resources.append({"name": Path(name).name.lower(), "path": name, "hash": "sha256:" + sha256_file(path),
                      "bytes": path.stat().st_size})


def _add(package: zipfile.ZipFile, resources: list[dict[str, Any]], name: str, data: bytes) -> None:
    package.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    resources.append({"name": Path(name).name.lower(), "path": name,
                      "hash": "sha256:" + hashlib.sha256(data).hexdigest(), "bytes": len(data)})


def _copy_object(ws: Workspace, uri: str, out: BinaryIO) -> int:
    """Stream one stored object into a file, a chunk at a time."""
    key = ws.storage.key_of(uri)
    size = ws.storage.size(key)
    for offset in range(0, size, _CHUNK):
        out.write(ws.storage.read(key, offset, min(_CHUNK, size - offset)))
    return size


def export_collection(ws: Workspace, collection: str, target: Path, actor: str = "lastseen export") -> dict[str, Any]:
    """Write one .warc.gz (the collection's WARC files, whole) or a signed .wacz package with the evidence.

    A WACZ carries each WARC's timestamp tokens and the custody record of what it holds, is signed with the
    deployment's key, and is timestamped itself (``FILE.wacz.tsr`` beside it) when TSAs are configured. The
    export is a custody event once written.
    """
    uris = collection_warc_uris(ws, collection)
    name = target.name.lower()
    if not (name.endswith(".warc.gz") or name.endswith(".wacz")):
        raise UsageError("export to a file ending in .warc.gz or .wacz")
    try:  # the last folder is made (out/x.wacz), one further out is a mistyped path, never made
        target.parent.mkdir(exist_ok=True)
    except FileNotFoundError:
        raise UsageError(f"cannot write {target}: the folder {target.parent.parent} does not exist") from None
    if name.endswith(".warc.gz"):
        size = 0
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as out:
            for uri in uris:
                size += _copy_object(ws, uri, out)
        Path(out.name).replace(target)
        result = {"collection": collection, "file": str(target), "warc_files": len(uris), "size": size}
    else:
        result = _export_wacz(ws, collection, uris, target)
    with session_scope(ws.sessions) as session:
        record(session, EXPORTED, actor, [str(target.absolute())], collection=collection,
               detail={"sha256": sha256_file(target), "size": target.stat().st_size, "warc_files": uris})
    return result


def _export_wacz(ws: Workspace, collection: str, uris: list[str], target: Path) -> dict[str, Any]:
    """The WACZ with tokens, custody record and signature; then the package's own timestamp tokens."""
    try:
        signer = package_signer(ws.settings)
        tsas = authorities(ws.settings)
    except (SigningError, TimestampError) as exc:
        raise UsageError(str(exc)) from None
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        paths: list[Path] = []
        extras: list[tuple[str, bytes]] = []
        for index, uri in enumerate(uris):
            key_name = ws.storage.key_of(uri)
            path = Path(tmp) / f"{index:05d}-{Path(key_name).name}"
            with path.open("wb") as out:
                _copy_object(ws, uri, out)
            paths.append(path)
            extras += [(f"archive/{path.name}{token.removeprefix(key_name)}", ws.storage.read(token))
                       for token in token_keys(ws.storage, key_name)]
        with session_scope(ws.sessions) as session:
            extras.append((CUSTODY_FILE, custody_lines(events_about(session, collection, uris))))
            found = get_collection(session, collection)
            if found is not None:  # the checks and status changes too: the timeline rebuilds from the package
                extras += collection_records(session, found.id)
        try:
            write_wacz(paths, target, title=f"lastseen collection {collection}", extras=extras, sign=signer.sign)
        except SigningError as exc:  # the certificate form's TSA did not answer: nothing is written
            raise UsageError(str(exc)) from None
    stamps = stamp_local(target, tsas) if tsas else []
    return {"collection": collection, "file": str(target), "warc_files": len(uris), "size": target.stat().st_size,
            "signed_by": signer.fingerprint,
            "timestamps": [outcome.as_dict() for outcome in stamps]}
