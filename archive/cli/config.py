"""`lastseen config`: the effective settings, secrets masked, and with --check whether they work."""

from __future__ import annotations

import argparse
from typing import Any

from archive.cli.output import Output
from archive.cli.probes import probe_all
from archive.config import setting_docs
from archive.errors import EXIT_OK, EXIT_USAGE, UsageError
from archive.workspace import Workspace


def cmd_config(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Print the effective settings, secrets masked; --check also connects to each configured part and says in
    a line each whether it works (exit 2 when one does not)."""
    shown: dict[str, Any] = ws.settings.shown()
    probes = probe_all(ws) if args.check else []
    failed = [probe.part for probe in probes if probe.ok is False]
    if out.as_json:
        out.json({**shown, "checks": [probe.as_dict() for probe in probes]} if args.check else shown)
    else:
        docs = {name.removeprefix("LASTSEEN_").lower(): doc for name, _, doc in setting_docs()}
        for name, value in shown.items():
            text = ", ".join(value) if isinstance(value, list) else str(value)
            out.line(f"LASTSEEN_{name.upper():<28} {text or '-':<50} # {docs[name]}")
        if args.check:
            out.line()
            for probe in probes:
                out.line(probe.line())
            if ws.settings.tsa_urls:
                out.line(_timestamps_check(ws))
    if failed:
        out.warn(f"lastseen: error: {len(failed)} part(s) do not work: {', '.join(failed)}")
        return EXIT_USAGE
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


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `config` to the command line."""
    p = sub.add_parser("config", parents=[common], help="print the effective settings (secrets masked)")
    p.add_argument("--check", action="store_true", help="also connect to each configured part (database, storage, "
                   "broker, Redis, TSAs, webhooks, Chromium, deno) and say whether it works")
    p.set_defaults(handler=cmd_config)
