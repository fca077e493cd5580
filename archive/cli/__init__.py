"""The `lastseen` command line: human output by default, --json for scripts, one-line errors.

Exit codes: 0 done; 1 done, but some input was refused or some items failed; 2 bad usage, setting,
database or storage (nothing done); 3 not found; 70 internal error (a bug: please report it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from archive import __version__
from archive.cli.output import Output
from archive.config import ConfigError, load_settings
from archive.db import DatabaseError
from archive.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, UsageError
from archive.sources.importers import ImportFormatError
from archive.storage import StorageError
from archive.urls import InvalidURL
from archive.workspace import Workspace

# Each command group is a module with register(subparsers, common) adding its parsers, in --help order.
COMMAND_MODULES: tuple[str, ...] = ("archive.cli.sources", "archive.cli.config", "crawler.run", "archive.cli.alerts",
                                     "archive.cli.check", "archive.wayback_queue", "archive.cli.serve",
                                     "archive.cli.tokens", "scheduler")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, with every registered command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML settings file (or LASTSEEN_CONFIG)")
    common.add_argument("--json", action="store_true", help="machine-readable JSON output")
    parser = argparse.ArgumentParser(prog="lastseen", parents=[common],
                                     description="Archive news pages and videos, and watch for them to vanish.",
                                     epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"lastseen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lastseen` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    out = Output(args.json)
    try:
        settings = load_settings(args.config)
        ws = Workspace(settings)
        try:
            return args.handler(args, ws, out)
        finally:
            ws.close()
    except (ConfigError, DatabaseError, StorageError, ImportFormatError, InvalidURL, UsageError, ValueError) as exc:
        out.warn(f"lastseen: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        out.warn("lastseen: interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: say so in one line; the traceback only when asked for
        if os.environ.get("LASTSEEN_DEBUG"):
            raise
        out.warn(f"lastseen: internal error: {type(exc).__name__}: {exc} (set LASTSEEN_DEBUG=1 for details)")
        return EXIT_INTERNAL


def run() -> None:
    """Console-script wrapper that exits with main's code."""
    sys.exit(main())
