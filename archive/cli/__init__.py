"""The `lastseen` command line: human output by default, --json for scripts, one-line errors.

Exit codes: 0 done; 1 done, but some input was refused or some items failed; 2 bad usage, setting,
database or storage (nothing done); 3 not found; 70 internal error (a bug: please report it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from archive import __version__
from archive.cli import (
    alerts,
    check,
    config,
    crawl,
    diff,
    footage,
    manage,
    report,
    schedule,
    search,
    serve,
    sources,
    status,
    timeline,
    tokens,
    verify,
    wayback,
    words,
    worker,
)
from archive.cli.examples import describe_commands
from archive.cli.output import Output
from archive.config import ConfigError, load_settings
from archive.db import DatabaseError
from archive.errors import EXIT_INTERNAL, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, NotFound, UsageError
from archive.storage import StorageError
from archive.workspace import Workspace

# Each command group is a module with register(subparsers, common) adding its parsers, in --help order. Their
# module-level imports are light (argparse, the database layer); heavy libraries load inside the handlers.
COMMANDS = (sources, status, config, crawl, alerts, check, wayback, serve, tokens, verify, schedule, worker, manage,
            footage, words, timeline, search, diff, report)


def _global_options() -> argparse.ArgumentParser:
    """--config and --json, which may stand before or after the command.

    Every copy leaves the value alone when its option is absent (argparse.SUPPRESS), so a subcommand's copy
    does not reset what was given before the command.
    """
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--config", default=argparse.SUPPRESS, help="TOML settings file (or LASTSEEN_CONFIG)")
    options.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable JSON output")
    return options


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, with every registered command."""
    parser = argparse.ArgumentParser(prog="lastseen", parents=[_global_options()],
                                     description="Archive news pages and videos, and watch for them to vanish.",
                                     epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"lastseen {__version__}")
    parser.set_defaults(config=None, json=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _global_options()
    for command in COMMANDS:
        command.register(sub, common)
    describe_commands(sub)
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
    except NotFound as exc:
        out.warn(f"lastseen: {exc}")
        return EXIT_NOT_FOUND
    except (ConfigError, DatabaseError, StorageError, UsageError) as exc:  # bad input, settings or services
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
