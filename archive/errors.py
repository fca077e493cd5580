"""What every layer may raise or return to the command line: the usage error and the exit codes.

Kept apart from the CLI so that lower layers never import a surface.
Exit codes: 0 done; 1 done, but some input was refused or some items failed; 2 bad usage, setting,
database or storage (nothing done); 3 not found; 4 (`verify`) intact, but a timestamp's signature not checked
for want of the TSA's certificate; 70 internal error (a bug: please report it).
"""

from __future__ import annotations

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_INTERNAL = 0, 1, 2, 3, 70
EXIT_UNCHECKED = 4


class UsageError(Exception):
    """Wrong arguments or input; one line for the user, exit 2 (the one exception the CLI reads as bad usage)."""


class NotFound(UsageError):
    """What was named (a collection, a source) does not exist; one line for the user, exit 3."""
