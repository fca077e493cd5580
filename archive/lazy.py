"""Package front doors that load lazily: each name's module loads on the name's first use (PEP 562), so a
command that needs one name of a package does not pay for the others' imports."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_names(package: str, modules: dict[str, str]) -> tuple[list[str], Callable[[str], Any]]:
    """`__all__` and a module `__getattr__` for `package`, from {module: "its names, space-separated"}."""
    where = {name: module for module, names in modules.items() for name in names.split()}
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{where[name]}"), name)
        namespace[name] = value  # kept, so the next use is a plain attribute
        return value

    return list(where), __getattr__
