"""Content-Encoding of archived bodies against the client's Accept-Encoding (RFC 9110 section 12.5.3).

Bodies are archived as the server sent them, often gzip- or br-compressed. A client that accepts the coding
gets the stored bytes; one that does not (no Accept-Encoding: gzip, say) gets them decoded, up to a bound, so a
small compressed body cannot make the API inflate gigabytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

MAX_DECODED = 256 * 1024**2  # larger decoded bodies are sent as stored, with their Content-Encoding


class _TooLarge(Exception):
    """The decoded body would be larger than MAX_DECODED."""


def accepted_codings(header: str | None) -> tuple[set[str], set[str]]:
    """The codings an Accept-Encoding header accepts and those it refuses (q=0), lower-case; '*' may be in both."""
    accepted: set[str] = set()
    refused: set[str] = set()
    for item in (header or "").split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        (accepted if quality > 0 else refused).add(name)
    return accepted, refused


def accepts(header: str | None, coding: str) -> bool:
    """Whether a client sending this Accept-Encoding takes a body in `coding` (x-gzip counts as gzip)."""
    accepted, refused = accepted_codings(header)
    names = {coding, "gzip" if coding == "x-gzip" else "x-gzip" if coding == "gzip" else coding}
    if names & refused:
        return False
    return bool(names & accepted) or ("*" in accepted and "*" not in refused)


def _inflate(data: bytes, wbits: int) -> bytes:
    decoder = zlib.decompressobj(wbits=wbits)
    out = decoder.decompress(data, MAX_DECODED + 1)
    if len(out) > MAX_DECODED or decoder.unconsumed_tail:
        raise _TooLarge
    return out


def _deflate(data: bytes) -> bytes:
    """HTTP 'deflate' is zlib-wrapped, though some servers send it raw."""
    try:
        return _inflate(data, zlib.MAX_WBITS)
    except zlib.error:
        return _inflate(data, -zlib.MAX_WBITS)


def _brotli(data: bytes) -> bytes:
    import brotli  # lazy: only archived br bodies need it

    decoder = brotli.Decompressor()
    try:
        out = decoder.process(data, output_buffer_limit=MAX_DECODED + 1)
    except brotli.error as exc:
        raise ValueError(str(exc)) from None
    if len(out) > MAX_DECODED or not decoder.is_finished():
        raise _TooLarge
    return out


def _gzip(data: bytes) -> bytes:
    return _inflate(data, 16 + zlib.MAX_WBITS)


DECODERS: dict[str, Callable[[bytes], bytes]] = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate, "br": _brotli}


def negotiate_encoding(body: bytes, encoding: str, accept_encoding: str | None) -> tuple[bytes, str | None]:
    """The body and Content-Encoding to send: as stored when the client accepts every coding applied, else
    decoded (codings undone last first); as stored when a coding is unknown, broken or decodes too large."""
    codings = [part.strip().lower() for part in encoding.split(",") if part.strip()]
    codings = [coding for coding in codings if coding != "identity"]
    if not codings or all(accepts(accept_encoding, coding) for coding in codings):
        return body, encoding if codings else None
    decoded = body
    try:
        for coding in reversed(codings):
            decoder = DECODERS.get(coding)
            if decoder is None:
                return body, encoding
            decoded = decoder(decoded)
    except (zlib.error, ValueError, _TooLarge):
        return body, encoding
    return decoded, None
