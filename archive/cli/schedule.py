"""`lastseen schedule`: the scheduler in the foreground, the same as `python scheduler.py`."""

from __future__ import annotations

import argparse
from typing import Any

from archive.cli.output import Output
from archive.workspace import Workspace


def cmd_schedule(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """The scheduler in the foreground."""
    import scheduler  # loaded for this command only, not for every `lastseen` run

    return scheduler.run(args.config, args.once)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `lastseen schedule` to the command line."""
    p = sub.add_parser("schedule", parents=[common], help="run the scheduler (same as python scheduler.py)")
    p.add_argument("--once", action="store_true", help="run every job once and exit (no leadership)")
    p.set_defaults(handler=cmd_schedule)
