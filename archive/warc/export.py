"""Exporting a collection for researchers: one .warc.gz of its WARC files, or a WACZ package of them."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cdxj_indexer.main import write_cdx_index
from sqlalchemy import func, select

from archive import __version__
from archive.db import session_scope
from archive.errors import UsageError
from archive.models import Capture, Collection, Source
from archive.storage import sha256_file
from archive.workspace import Workspace

_CHUNK = 16 * 1024 * 1024


def write_wacz(paths: list[Path], out: Path, *, title: str, pages: list[dict[str, str]]) -> None:
    """A WACZ 1.1.1 package: the WARC files, one sorted CDXJ index, pages.jsonl, datapackage.json."""
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tmp = out.with_name(f".{out.name}.tmp")
    resources: list[dict[str, Any]] = []
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as package:
        for path in paths:
            name = f"archive/{path.name}"
            package.write(path, name)
            resources.append(_file_resource(path, name))
        index = io.StringIO()
        write_cdx_index(index, [str(p) for p in paths], {"sort": True, "post_append": True})
        _add(package, resources, "index.cdxj", "indexes/index.cdxj", index.getvalue().encode("utf-8"))
        lines = [{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}]
        lines += [{"id": uuid.uuid4().hex, **page} for page in pages]
        jsonl = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")
        _add(package, resources, "pages.jsonl", "pages/pages.jsonl", jsonl)
        datapackage = {"profile": "data-package", "wacz_version": "1.1.1", "title": title, "created": created,
                       "modified": created, "software": f"lastseen/{__version__}", "resources": resources}
        data = json.dumps(datapackage, indent=2).encode("utf-8")
        package.writestr("datapackage.json", data)
        digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(data).hexdigest()}
        package.writestr("datapackage-digest.json", json.dumps(digest))
    tmp.replace(out)


def _resource(name: str, path: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "path": path, "hash": "sha256:" + hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _file_resource(path: Path, name: str) -> dict[str, Any]:
    """Like _resource, for a file that may be gigabytes."""
    return {"name": path.name, "path": name, "hash": "sha256:" + sha256_file(path), "bytes": path.stat().st_size}


def _add(package: zipfile.ZipFile, resources: list[dict[str, Any]], name: str, path: str, data: bytes) -> None:
    package.writestr(path, data)
    resources.append(_resource(name, path, data))


def collection_warc_uris(ws: Workspace, collection: str) -> list[str]:
    """The WARC files holding a collection's captures, oldest first."""
    with session_scope(ws.sessions) as session:
        if session.scalar(select(Collection.id).where(Collection.name == collection)) is None:
            raise UsageError(f"no collection named {collection!r}")
        first = func.min(Capture.captured_at)
        rows = session.execute(select(Capture.warc_uri, first).join(Source).join(Collection)
                               .where(Collection.name == collection)
                               .group_by(Capture.warc_uri).order_by(first, Capture.warc_uri)).all()
    return [uri for uri, _ in rows]


def _copy_object(ws: Workspace, uri: str, out: BinaryIO) -> int:
    """Stream one stored object into a file, a chunk at a time."""
    key = ws.storage.key_of(uri)
    size = ws.storage.size(key)
    for offset in range(0, size, _CHUNK):
        out.write(ws.storage.read(key, offset, min(_CHUNK, size - offset)))
    return size


def export_collection(ws: Workspace, collection: str, target: Path) -> dict[str, Any]:
    """Write one .warc.gz (the collection's WARC files, whole) or a .wacz package."""
    uris = collection_warc_uris(ws, collection)
    name = target.name.lower()
    if not (name.endswith(".warc.gz") or name.endswith(".wacz")):
        raise UsageError("export to a file ending in .warc.gz or .wacz")
    target.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".warc.gz"):
        size = 0
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as out:
            for uri in uris:
                size += _copy_object(ws, uri, out)
        Path(out.name).replace(target)
        return {"collection": collection, "file": str(target), "warc_files": len(uris), "size": size}
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        paths = []
        for index, uri in enumerate(uris):
            path = Path(tmp) / f"{index:05d}-{Path(ws.storage.key_of(uri)).name}"
            with path.open("wb") as out:
                _copy_object(ws, uri, out)
            paths.append(path)
        with session_scope(ws.sessions) as session:
            pages = [{"url": c.url, "ts": c.captured_at.isoformat().replace("+00:00", "Z"),
                      "title": (c.page_meta or {}).get("title") or c.url}
                     for c in session.scalars(select(Capture).join(Source).join(Collection)
                                              .where(Collection.name == collection, Capture.http_status == 200)
                                              .order_by(Capture.captured_at))]
        write_wacz(paths, target, title=f"lastseen collection {collection}", pages=pages)
    return {"collection": collection, "file": str(target), "warc_files": len(uris), "size": target.stat().st_size}
