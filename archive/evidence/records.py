"""Reading a WARC file for `verify`, once, in bounded memory: every gzip member, every record, every digest.

warcio's own reader prints a damaged gzip member's zlib error and carries on as if the file had ended (so a
byte flipped past the first member once verified as "ok"). Here each gzip member is inflated by zlib (raw
deflate) and its CRC-32 and length checked against its trailer; the plain WARC goes to warcio for its record
and digest checks; any damage stops the file there, named by the record whose member holds it and that
member's offset in the file. Header lines are bounded (a 512 MiB "header line" is refused, not read whole).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import struct
import zlib
from collections.abc import Callable
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.utils import BUFF_SIZE

from archive.net.http import one_line

_IN_CHUNK = 4 * 1024 * 1024  # compressed bytes read at a time (one ranged read of stored objects)
_FEED = 64 * 1024  # compressed bytes given to zlib at a time (its unconsumed tail is copied each call)
_SALVAGE = 64  # on a zlib error, the input is fed again this much at a time to keep the output before it
LINE_LIMIT = 1024 * 1024  # one WARC or HTTP header line; browsers and servers stop far below this
HEADERS_LIMIT = 2 * 1024 * 1024  # all the header lines of one record (Chromium takes 256 KiB)
_GZIP_MAGIC = b"\x1f\x8b"


class Hostile(Exception):
    """A shape no honest WARC has, refused before it costs memory: one line for the report."""


class Damage(Exception):
    """A gzip member that does not decompress or whose CRC-32 or length does not match."""


class _Sink:
    """Where warcio's own warnings go while verifying: the report says what is wrong, once."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


class Members:
    """The uncompressed bytes of a (multi-member gzip or plain) WARC file, hashing the file's bytes as read.

    Each gzip member is checked by zlib; on damage the stream ends there and `damage` says where and why.
    `starts` maps uncompressed offsets back to the file offset of the member holding them.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self.hash = hashlib.sha256()
        self._in = b""
        self._at = 0  # bytes of self._in already taken
        self._in_pos = 0  # file offset of self._in[self._at]
        self._out_pos = 0  # uncompressed bytes given out
        self._decompressor: Any = None
        self._eof = False
        self.gzip: bool | None = None
        self.damage: tuple[int, int, str] | None = None  # (member's file offset, its uncompressed start, why)
        self._pending: tuple[int, int, str] | None = None  # a damage found, told after the member's bytes
        self._crc = self._size = 0
        self._starts_out: list[int] = []
        self._starts_in: list[int] = []

    def _fill(self) -> bool:
        """More compressed bytes to take from; False at the end of the file."""
        if self._eof:
            return False
        chunk = self._read(_IN_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self.hash.update(chunk)
        self._in = self._in[self._at:] + chunk
        self._at = 0
        return True

    def file_offset(self, out_offset: int) -> int:
        """The file offset of the gzip member holding an uncompressed offset (itself for a plain file)."""
        if not self.gzip:
            return out_offset
        index = bisect.bisect_right(self._starts_out, out_offset) - 1
        return self._starts_in[max(index, 0)] if self._starts_in else 0

    def forget_before(self, out_offset: int) -> None:
        """Drop member starts before the one holding out_offset (records are read in order)."""
        index = bisect.bisect_right(self._starts_out, out_offset) - 1
        if index > 0:
            del self._starts_out[:index], self._starts_in[:index]

    def _left(self) -> int:
        return len(self._in) - self._at

    def read(self, length: int = BUFF_SIZE) -> bytes:
        """Up to length uncompressed bytes; b"" at the end or after damage."""
        if self.damage or length <= 0:
            return b""
        if self.gzip is None:
            while self._left() < 2 and self._fill():
                pass
            self.gzip = self._in.startswith(_GZIP_MAGIC)
        if not self.gzip:
            if not self._left() and not self._fill():
                return b""
            data = self._in[self._at:self._at + length]
            self._take(len(data))
            self._out_pos += len(data)
            return data
        return self._inflate(length)

    def _take(self, count: int) -> None:
        self._at += count
        self._in_pos += count

    def _inflate(self, length: int) -> bytes:
        """The next uncompressed bytes; a bad CRC-32 is declared after the member's bytes are handed over, so
        the record in it can still be named."""
        if self._pending:
            self.damage, self._pending = self._pending, None
            return b""
        while True:
            if self._decompressor is None:
                if not self._left() and not self._fill():
                    return b""
                self._starts_out.append(self._out_pos)
                self._starts_in.append(self._in_pos)
                why = self._skip_header()
                if why:
                    return self._damaged(why)
                self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
                self._crc = self._size = 0
            if not self._left() and not self._fill():
                return self._damaged("the file ends inside a gzip member")
            decompressor = self._decompressor
            fed = memoryview(self._in)[self._at:self._at + _FEED]
            before = decompressor.copy()
            try:
                data = decompressor.decompress(fed, length)
            except zlib.error as exc:
                return self._salvaged(before, fed, length, str(exc))
            self._take(len(fed) - len(decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail))
            self._crc = zlib.crc32(data, self._crc)
            self._size += len(data)
            self._out_pos += len(data)
            if decompressor.eof:
                self._decompressor = None
                self._check_trailer()
            if data:
                return data
            if self._pending:
                return self._inflate(length)

    def _salvaged(self, decompressor: Any, fed: memoryview, length: int, why: str) -> bytes:
        """What a damaged piece held before the damage (a record's header, say), the damage told next."""
        self._pending = (self._starts_in[-1], self._starts_out[-1], one_line(why, 120))
        kept: list[bytes] = []
        try:
            for start in range(0, len(fed), _SALVAGE):
                room = length - sum(map(len, kept))
                if room <= 0:  # zlib takes 0 as "no limit"
                    break
                kept.append(decompressor.decompress(fed[start:start + _SALVAGE], room))
        except zlib.error:
            pass
        data = b"".join(kept)
        self._out_pos += len(data)
        return data or self._inflate(length)

    def _check_trailer(self) -> None:
        """The member's CRC-32 and length (RFC 1952) against what was inflated; a mismatch is kept pending."""
        trailer = self._need(8)
        if trailer is None:
            why = "the file ends inside a gzip member's trailer"
        else:
            crc, size = struct.unpack("<II", trailer)
            why = ("the gzip member's CRC-32 does not match its bytes" if crc != self._crc else
                   "the gzip member's length does not match" if size != self._size & 0xFFFFFFFF else "")
        if why:
            self._pending = (self._starts_in[-1], self._starts_out[-1], why)

    def _need(self, count: int) -> bytes | None:
        """The next count compressed bytes, taken; None when the file ends first."""
        while self._left() < count and self._fill():
            pass
        if self._left() < count:
            return None
        data = self._in[self._at:self._at + count]
        self._take(count)
        return data

    def _skip_header(self) -> str:
        """Read past one gzip member header (RFC 1952 2.3); why it is not one, or ""."""
        head = self._need(10)
        if head is None or head[:3] != b"\x1f\x8b\x08" or head[3] & 0xE0:
            return "not a gzip member header"
        flags = head[3]
        if flags & 4:
            size = self._need(2)
            if size is None or self._need(int.from_bytes(size, "little")) is None:
                return "a gzip member header cut short"
        for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
            if flags & flag:
                while (end := self._in.find(b"\0", self._at)) < 0 and self._left() < LINE_LIMIT and self._fill():
                    pass
                if end < 0:
                    return "a gzip member header without its end"
                self._take(end + 1 - self._at)
        if flags & 2 and self._need(2) is None:
            return "a gzip member header cut short"
        return ""

    def finish(self) -> bytes:
        """Read what is left (after damage too) and give the SHA-256 of all the file's bytes."""
        while self._fill():
            self._in, self._at = b"", 0
        return self.hash.digest()


class _BoundedLines(DecompressingBufferedReader):
    """warcio's reader of plain bytes, whose header lines cannot grow past LINE_LIMIT and HEADERS_LIMIT."""

    line_bytes = 0

    def readline(self, length: int | None = None) -> bytes:
        limit = LINE_LIMIT + 1 if length is None or length > LINE_LIMIT else length
        parts, count = [], 0  # warcio's own readline miscounts a limit that spans buffer fills
        while count < limit:
            self._fillbuff()
            if self.empty():
                break
            parts.append(self.buff.readline(limit - count))
            count += len(parts[-1])
            if parts[-1].endswith(b"\n"):
                break
        line = b"".join(parts)
        if len(line) > LINE_LIMIT:
            raise Hostile(f"a header line longer than {LINE_LIMIT // 1024} KiB")
        self.line_bytes += len(line)
        if self.line_bytes > HEADERS_LIMIT:
            raise Hostile(f"record headers longer than {HEADERS_LIMIT // 1024 // 1024} MiB")
        return line


def check_records(members: Members, label: str = "") -> tuple[int, list[str]]:
    """Read every record, recomputing its block and payload digests; the count and every problem found.

    A problem names the record (its WARC-Record-ID when readable) and its offset in the file.
    """
    iterator = ArchiveIterator(members, check_digests=True)
    reader = _BoundedLines(iterator.fh, block_size=BUFF_SIZE, decomp_type=None)
    iterator.reader = reader
    problems: list[str] = []
    digests: list[tuple[int, str]] = []  # (record start, problem): those in a damaged member are the damage
    records = 0
    last = (0, "")  # the last record's uncompressed offset and id
    with contextlib.redirect_stderr(_Sink()):  # type: ignore[type-var]
        try:
            for record in iterator:
                record_id = record.rec_headers.get_header("WARC-Record-ID") or "?"
                start = iterator.offset
                last = (start, record_id)
                while record.raw_stream.read(BUFF_SIZE):
                    pass
                records += 1
                if record.digest_checker.passed is False:
                    where = members.file_offset(start)
                    digests += [(start, f"{label}record {record_id} at offset {where}: {problem}")
                                for problem in record.digest_checker.problems]
                members.forget_before(start)
                reader.line_bytes = 0
        except Exception as exc:  # warcio, zlib and our bounds raise many kinds on bad bytes; one reason each
            if not members.damage:
                text = "".join(char if char.isprintable() else "?" for char in one_line(str(exc), 80))
                where = members.file_offset(iterator.offset)
                problems.append(f"{label}unreadable at offset {where}, after {records} record(s): "
                                f"{text or type(exc).__name__}")
    problems[:0] = [problem for start, problem in digests if not _in_damage(members, start)]
    if members.damage:
        member_at, member_out, why = members.damage
        named = last[1] if last[1] and last[0] >= member_out else "(header unreadable)"
        problems.append(f"{label}record {named} at offset {member_at}: gzip member damaged: {why}")
    elif records == 0 and not problems:
        problems.append(f"{label}no WARC records")
    return records, problems


def _in_damage(members: Members, start: int) -> bool:
    """Whether a record lies in or after a damaged member (its digest problem is the damage, said once)."""
    return members.damage is not None and start >= members.damage[1]
