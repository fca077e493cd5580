"""Exporting WARC files for researchers: a WACZ package of WARC files."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdxj_indexer.main import write_cdx_index

from archive import __version__
from archive.storage import sha256_file


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
