"""`python -m archive.cli`: the same as the `lastseen` script."""

from archive.cli import run

run()
