"""Whether a live page differs from its baseline (the content it was last known to have), and what shows it.

A check compares what it fetched with the source's newest capture (archive.watch.select.Baseline): the same
bytes, else the same main text as the crawl extracts it, else the same bytes of a non-HTML capture.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from archive.watch.fetch import Answer
from archive.watch.select import Baseline


@dataclass(frozen=True)
class Comparison:
    """A live page against its baseline: changed or not, the human why, and the new hash when it changed."""

    changed: bool
    why: str
    text_sha256: str | None = None
    payload_sha256: str | None = None
    text: str | None = None  # a changed page's main text and title, for its alert (archive.watch.change)
    title: str | None = None


def compare_content(baseline: Baseline, answer: Answer) -> Comparison:
    """Whether a live page differs from what its content was last known to be, and what shows it.

    Same bytes: unchanged. Otherwise the main text (as the crawl extracts it: trafilatura via pagemeta) is
    compared with the capture's text_sha256; non-HTML captures compare their bytes when the server sent them
    unencoded. A body cut at check_max_bytes is not compared.
    """
    if answer.truncated:
        return Comparison(False, "too large to compare with the capture")
    payload = hashlib.sha256(answer.body).hexdigest()
    if baseline.payload_sha256 == payload:
        return Comparison(False, f"same bytes as {baseline.what}")
    if baseline.text_sha256:
        return _compare_text(baseline, answer)
    if baseline.compare_payload and not answer.content_encoding:
        return Comparison(True, f"content differs from {baseline.what}", payload_sha256=payload)
    return Comparison(False, "nothing to compare with")


def _compare_text(baseline: Baseline, answer: Answer) -> Comparison:
    """The page's main text against the baseline's text hash (a new title is named)."""
    from archive.extract.pagemeta import extract_page_metadata, text_sha256

    meta = extract_page_metadata(answer.body, answer.final_url or answer.url, answer.content_type)
    if not meta.text:
        return Comparison(False, "no main text to compare")
    text = text_sha256(meta.text)
    if text == baseline.text_sha256:
        return Comparison(False, f"same main text as {baseline.what}")
    retitled = ""
    if baseline.title and meta.title and meta.title != baseline.title:
        retitled = f"; title {baseline.title[:80]!r} is now {meta.title[:80]!r}"
    return Comparison(True, f"main text differs from {baseline.what}{retitled}", text_sha256=text,
                      text=meta.text, title=meta.title)
