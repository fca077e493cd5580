"""`lastseen config`: the effective settings, secrets masked, and with --check whether they work."""

from __future__ import annotations

import argparse
from typing import Any

from archive.cli.output import Output
from archive.config import setting_docs
from archive.errors import EXIT_OK, UsageError
from archive.workspace import Workspace


def cmd_config(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Print the effective settings, secrets masked; --check also opens the database and storage."""
    shown = ws.settings.shown()
    if args.check:
        ws.check()
    if out.as_json:
        out.json(shown)
        return EXIT_OK
    docs = {name.removeprefix("LASTSEEN_").lower(): doc for name, _, doc in setting_docs()}
    for name, value in shown.items():
        text = ", ".join(value) if isinstance(value, list) else str(value)
        out.line(f"LASTSEEN_{name.upper():<28} {text or '-':<50} # {docs[name]}")
    if args.check:
        out.line(_timestamps_check(ws))
        out.line(_screenshots_check(ws))
    return EXIT_OK


def _timestamps_check(ws: Workspace) -> str:
    """Whether captures get trusted time: the TSAs asked, and the certificates their tokens are checked with."""
    from archive.evidence import TimestampError, load_certificates

    settings = ws.settings
    if not settings.tsa_urls:
        return "timestamps: no TSA configured (LASTSEEN_TSA_URLS is empty): WARC files get no trusted time"
    try:
        certificates = len(load_certificates(settings.tsa_certs))
    except TimestampError as exc:
        raise UsageError(str(exc)) from None
    checked = f"checked with {certificates} certificate(s)" if certificates else "not checked (no LASTSEEN_TSA_CERTS)"
    return f"timestamps: {len(settings.tsa_urls)} TSA(s) configured, tokens {checked}"


def _screenshots_check(ws: Workspace) -> str:
    """Whether crawls take screenshots: the switch, and whether Chromium is there."""
    settings = ws.settings
    if not settings.screenshots:
        return "screenshots: off (LASTSEEN_SCREENSHOTS=no)"
    from crawler.screenshots import chromium_found  # Scrapy loads only for --check

    found = chromium_found(settings)
    if found is None:
        return f"screenshots: off: Chromium not found at {settings.chromium_path} (LASTSEEN_CHROMIUM_PATH)"
    return f"screenshots: on, with Chromium {found} (collections may switch them off)"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `config` to the command line."""
    p = sub.add_parser("config", parents=[common], help="print the effective settings (secrets masked)")
    p.add_argument("--check", action="store_true", help="also connect to the database and storage")
    p.set_defaults(handler=cmd_config)
