"""Whether a page's HTML is a shell that scripts fill in: almost no text of its own, but scripts to load.

Pure: auto capture mode asks this of a page fetched over HTTP, and captures it again in a browser when the
answer is yes (news sites and social networks that send an empty frame and fetch the text as JSON).
"""

from __future__ import annotations

import lxml.html
from lxml import etree

from archive.extract.decode import decode_html

SHELL_TEXT = 200  # characters of visible text at most for a page to count as a shell
_HIDDEN = {"script", "style", "noscript", "template", "head", "title", "svg"}
_MAX_INPUT = 4 * 1024 * 1024


def visible_text_length(root: etree._Element, limit: int = SHELL_TEXT) -> int:
    """Characters of text a reader would see before any script runs (whitespace runs as one), counted up to
    limit (a page with more is no shell, whatever its length)."""
    total = 0
    stack: list[tuple[etree._Element, bool]] = [(root, False)]
    while stack and total < limit:
        element, hidden = stack.pop()
        if not isinstance(element.tag, str):  # a comment or processing instruction: only its tail is text
            continue
        hidden = hidden or element.tag.lower() in _HIDDEN
        if not hidden and element.text:
            total += len(" ".join(element.text.split()))
        for child in reversed(element):
            if not hidden and child.tail:
                total += len(" ".join(child.tail.split()))
            stack.append((child, hidden))
    return total


def loads_scripts(root: etree._Element) -> bool:
    """True when the page has a script to run: one with a src, or inline code (not JSON data)."""
    for script in root.iter("script"):
        kind = (script.get("type") or "").strip().lower()
        if kind and kind not in {"text/javascript", "module", "application/javascript"}:
            continue
        if script.get("src") or (script.text or "").strip():
            return True
    return False


def is_script_shell(body: bytes, content_type: str | None = None) -> bool:
    """True for HTML with fewer than SHELL_TEXT characters of visible text that loads scripts."""
    if not body.strip():
        return False
    text = decode_html(body[:_MAX_INPUT], content_type)[0]
    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return False
    return loads_scripts(root) and visible_text_length(root) < SHELL_TEXT
