"""`lastseen report -c C OUT.html|OUT.pdf`: a collection's evidence dossier, one self-contained file a journalist or
a court reads without lastseen (the PDF printed by Chromium with no network)."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from archive import __version__
from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, UsageError
from archive.models import SOURCE_STATUSES
from archive.sources import DEFAULT_COLLECTION, get_collection
from archive.workspace import Workspace

KINDS = {".html": "html", ".htm": "html", ".pdf": "pdf"}


def cmd_report(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Write the dossier; say on stderr when the collection held more sources than it may."""
    from archive.evidence import EXPORTED, command_actor, record
    from archive.research.dossier import gather
    from archive.research.dossier_html import render_html
    from archive.words.show import words_of  # the surface hands the words stage's reader to the read side

    target = Path(args.out)
    kind = _kind(target)
    chromium = _chromium(ws) if kind == "pdf" else ""
    with session_scope(ws.sessions) as session:
        collection = get_collection(session, args.collection)
        if collection is None:
            out.warn(f"lastseen: no collection named {args.collection!r}")
            return EXIT_NOT_FOUND
        dossier = gather(session, ws.storage, collection, limit=ws.settings.report_sources, status=args.status,
                         made_by=command_actor("report"), words_of=words_of)
    data = render_html(dossier, version=__version__, operator=ws.settings.operator).encode("utf-8")
    if kind == "pdf":
        data = _printed(ws, chromium, data)
    _write(target, data)
    sha256 = hashlib.sha256(data).hexdigest()
    with session_scope(ws.sessions) as session:
        record(session, EXPORTED, command_actor("report"), [str(target.absolute())], collection=collection.name,
               detail={"kind": f"dossier ({kind})", "sha256": sha256, "size": len(data),
                       "sources": len(dossier.sources)})
    if dossier.cut:
        out.warn(f"lastseen: the dossier was cut: it holds the first {len(dossier.sources)} of {dossier.total} "
                 "sources (LASTSEEN_REPORT_SOURCES); choose fewer with --status")
    summary = {"file": str(target), "format": kind, "sources": len(dossier.sources), "total": dossier.total,
               "cut": dossier.cut, "size": len(data), "sha256": sha256}
    if out.as_json:
        out.json(summary)
    else:
        out.line(f"wrote {target}: {len(dossier.sources)} source(s), {len(data):,} bytes, sha256:{sha256}")
    return EXIT_OK


def _kind(target: Path) -> str:
    """html or pdf, from OUT's name; UsageError for another name or a folder that cannot be written."""
    kind = KINDS.get(target.suffix.lower())
    if kind is None:
        raise UsageError(f"{target}: name the dossier OUT.html or OUT.pdf")
    folder = target.absolute().parent
    if target.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {target}: " + ("it is a folder" if target.is_dir() else
                                                       "no such folder" if not folder.is_dir() else
                                                       "permission denied"))
    return kind


def _chromium(ws: Workspace) -> str:
    """The Chromium that prints PDFs; UsageError when it (or Playwright) is missing."""
    found = shutil.which(ws.settings.chromium_path)
    if found is None or importlib.util.find_spec("playwright") is None:
        raise UsageError(f"a PDF needs Chromium ({ws.settings.chromium_path}, LASTSEEN_CHROMIUM_PATH) and "
                         "Playwright; write OUT.html instead")
    return found


def _printed(ws: Workspace, chromium: str, html: bytes) -> bytes:
    from crawler.browser.printing import PrintError, print_pdf  # Playwright loads for a PDF only

    try:
        return print_pdf(ws.settings, chromium, html)
    except PrintError as exc:
        raise UsageError(f"printing the PDF: {exc}") from None


def _write(target: Path, data: bytes) -> None:
    """The file whole or not at all (written beside it, then renamed); UsageError when it cannot be."""
    partial: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(dir=target.absolute().parent, prefix=f".{target.name}.",
                                         delete=False) as handle:
            partial = Path(handle.name)
            handle.write(data)
        partial.chmod(0o644)
        partial.replace(target)
    except OSError as exc:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `report` to the command line."""
    p = sub.add_parser("report", parents=[common],
                       help="a collection's evidence dossier: one self-contained HTML or PDF file with the timeline, "
                       "each source's status history, hashes, trusted times, screenshots and custody log")
    p.add_argument("-c", "--collection", default=DEFAULT_COLLECTION, help=f"default: {DEFAULT_COLLECTION}")
    p.add_argument("--status", choices=SOURCE_STATUSES, help="only the sources of this status (e.g. vanished)")
    p.add_argument("out", metavar="OUT", help="OUT.html, or OUT.pdf (printed by Chromium)")
    p.set_defaults(handler=cmd_report)
