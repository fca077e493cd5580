"""The one charset decoder for fetched HTML: the page metadata, the video finder and the checks read bytes alike.

Decodes legacy encodings (windows-1251 and KOI8-R are common in Russian-language news) and says which charset
was used and where it came from. Garbage never raises: undecodable bytes become U+FFFD.
"""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# The most frequent lower-case Russian letters: text decoded with the right code page is full of them.
_COMMON_CYRILLIC = set("оеаинтсрвлкмдпуяы")


def _codec(name: str | bytes | None) -> str | None:
    """The Python codec name for a charset label, or None when unknown.

    Without a BOM the bytes are not UTF-16/32 (a label that could be read as ASCII says so): UTF-8 then.
    """
    if not name:
        return None
    label = name.decode("ascii", "ignore") if isinstance(name, bytes) else name
    try:
        codec = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    return "utf-8" if codec.startswith(("utf-16", "utf-32")) else codec


def _cyrillic_score(text: str) -> float:
    """Share of letters that are common Russian ones: high when the code page guess is right."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(ch in _COMMON_CYRILLIC for ch in letters) / len(letters)


def _detect(body: bytes) -> tuple[str, str]:
    """UTF-8 when the bytes are valid UTF-8; else the Cyrillic code page that reads as Russian; else cp1252."""
    sample = body[:65536]
    try:
        sample.decode("utf-8")
        return "utf-8", "detected"
    except UnicodeDecodeError as exc:
        if exc.start > len(sample) - 4:
            return "utf-8", "detected"
    scores = {name: _cyrillic_score(sample.decode(name, "replace")) for name in ("cp1251", "koi8_r")}
    best = max(scores, key=scores.__getitem__)
    if scores[best] > 0.2:
        return codecs.lookup(best).name, "detected"
    return "cp1252", "detected"


def decode_html(body: bytes, content_type: str | None = None, *, charset: str | None = None) -> tuple[str, str, str]:
    """(text, charset, where the charset came from: bom, header, meta, detected or default).

    Order: BOM, the declared charset (`charset=` when the caller already knows it, else the Content-Type
    header's), <meta charset>, then detection from the bytes.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(name, "replace"), name, "bom"
    declared, source = _codec(charset), "header"
    if declared is None and content_type:
        match = _HEADER_CHARSET.search(content_type)
        declared = _codec(match.group(1)) if match else None
    if declared is None:
        match = _META_CHARSET.search(body[:4096])
        declared, source = (_codec(match.group(1)) if match else None), "meta"
    if declared is None and body:
        declared, source = _detect(body)
    if declared is None:
        declared, source = "utf-8", "default"
    return body.decode(declared, "replace"), declared, source
