"""How the scheduler and workers say what a round did: one sentence for people, never a Python dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def sentence(result: Mapping[str, Any]) -> str:
    """'claimed 50, checked 48', 'crawl of flood: urls 12, exit 0', 'outcomes ok 3, gone 1': empty parts left out."""
    parts = []
    for key, value in result.items():
        name = key.replace("_", " ")
        if isinstance(value, Mapping):
            if value:
                parts.append(f"{name} " + ", ".join(f"{k} {_plain(v)}" for k, v in value.items()))
        elif isinstance(value, list | tuple):
            parts.extend(_item(name, item) for item in value)
        elif value is not None:
            parts.append(f"{name} {value}")
    return ", ".join(parts) or "nothing to do"


def _item(name: str, item: Any) -> str:
    if isinstance(item, Mapping):
        label = item.get("collection")
        rest = {k: v for k, v in item.items() if k != "collection"}
        return (f"crawl of {label}: " if label is not None else f"{name}: ") + sentence(rest)
    return f"{name} {item}"


def _plain(value: Any) -> str:
    return sentence(value) if isinstance(value, Mapping) else str(value)
