"""The one charset decoder for fetched HTML: the page metadata, the video finder and the checks read bytes alike.

w3lib's html_to_unicode reads the BOM, the declared charset (header, then <meta>) as browsers do; a page that
declares none is detected by charset-normalizer (legacy code pages of any script: windows-1251, KOI8-R, ISO-8859-2,
GBK, Shift_JIS, windows-1256...). Says which charset was used and where it came from. Garbage never raises:
undecodable bytes become U+FFFD.
"""

from __future__ import annotations

import codecs

from w3lib.encoding import html_to_unicode, http_content_type_encoding, read_bom

_SAMPLE = 65536  # detection reads this much: enough for any page's language, bounded time


def _detect(body: bytes) -> str | None:
    """UTF-8 when the bytes are valid UTF-8; else charset-normalizer's best reading; None when it has none."""
    sample = body[:_SAMPLE]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(sample) - 4:  # a character cut by the sample's end
            return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    return codecs.lookup(best.encoding).name if best is not None else None


def decode_html(body: bytes, content_type: str | None = None, *, charset: str | None = None) -> tuple[str, str, str]:
    """(text, charset, where the charset came from: bom, header, meta, detected or default).

    Order: BOM, the declared charset (`charset=` when the caller already knows it, else the Content-Type
    header's), <meta charset>, then detection from the bytes.
    """
    known = http_content_type_encoding(f"text/html; charset={charset}") if charset else None
    header = f"text/html; charset={charset}" if known else content_type
    detected: list[str | None] = []

    def detect(data: bytes) -> str | None:
        detected.append(_detect(data) if data else None)
        return detected[-1]

    encoding, text = html_to_unicode(header, body, default_encoding="utf-8", auto_detect_fun=detect)
    if read_bom(body)[0] is not None:
        source = "bom"
    elif http_content_type_encoding(header) is not None:
        source = "header"
    elif detected:
        source = "detected" if detected[0] else "default"
    else:
        source = "meta"
    return text, _name(encoding), source


def _name(encoding: str) -> str:
    """The Python codec name of the charset used (w3lib keeps its own spelling of a few)."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding
