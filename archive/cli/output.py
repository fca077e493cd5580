"""How the command line speaks: rich text for people, JSON for scripts, warnings on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from archive.workspace import Workspace


_UNLIMITED = 1_000_000


class Output:
    """Writes results: JSON for scripts, rich text for people."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False, soft_wrap=True)
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")

    def line(self, text: str = "") -> None:
        self.console.print(text, markup=False)

    def plain(self, text: str) -> None:
        """One line as it is, without rich's layout: for long streams of lines (an import of a million URLs)."""
        sys.stdout.write(text + "\n")

    def table(self, table: Table) -> None:
        """A table; piped or redirected, as wide as its rows (no URL cut at 80 columns)."""
        if self.console.is_terminal:
            self.console.print(table)
            return
        width = self.console.measure(table, options=self.console.options.update_width(_UNLIMITED)).maximum
        Console(highlight=False, width=max(width, 1)).print(table)

    def warn(self, text: str) -> None:
        self.errors.print(text, markup=False)


Handler = Callable[[argparse.Namespace, "Workspace", Output], int]
