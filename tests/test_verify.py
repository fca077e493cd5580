"""`lastseen verify` against damage and forgery: a flipped byte anywhere fails naming its record; hostile
packages and files fail in bounded memory, with a reason; the signer can be pinned."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.db import session_scope
from archive.evidence import CAPTURED, record
from archive.storage import warc_key
from archive.warc import write_wacz
from archive.workspace import Workspace
from tests.servers.api import at


def _warc(records: int = 39, seed: int = 7) -> bytes:
    """A multi-member .warc.gz of responses (some large, some small) and a metadata record, as a crawl writes."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for number in range(records):
        body = rng.randbytes(rng.choice([300, 4_000, 30_000]))
        headers = StatusAndHeaders("200 OK", [("Content-Type", "application/octet-stream")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(f"https://news.example/{number}", "response",
                                                      payload=io.BytesIO(body), http_headers=headers))
    return buffer.getvalue()


def _members(data: bytes) -> list[tuple[int, int, str]]:
    """(offset, length, WARC-Record-ID) of each record (one gzip member each) of a clean file."""
    iterator = ArchiveIterator(io.BytesIO(data))
    found = []
    for item in iterator:
        record_id = item.rec_headers.get_header("WARC-Record-ID")
        iterator.read_to_end(item)
        found.append((iterator.get_record_offset(), iterator.get_record_length(), record_id))
    return found


def _ten_offsets(members: list[tuple[int, int, str]], size: int) -> list[tuple[int, int, str]]:
    """Ten offsets spread over the file, each with its member's offset and record id; never in the bytes of a
    gzip header that no CRC covers (MTIME, XFL, OS: a file's SHA-256 against its token or database row
    catches those)."""
    chosen = []
    for step in range(10):
        offset = size * (2 * step + 1) // 20
        start, _, record_id = next(member for member in reversed(members) if member[0] <= offset)
        if 4 <= offset - start < 10:
            offset = start + 10
        chosen.append((offset, start, record_id))
    return chosen


def _flipped(data: bytes, offset: int) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 0x20
    return bytes(damaged)


def test_a_byte_flipped_anywhere_in_a_warc_fails_naming_its_record(run, tmp_path: Path) -> None:
    data = _warc()
    path = tmp_path / "t2.warc.gz"
    path.write_bytes(data)
    code, out, err = run("verify", str(path))
    assert code == 0 and out.startswith(f"ok      {path}") and "39 records" in out, out + err
    for offset, start, record_id in _ten_offsets(_members(data), len(data)):
        path.write_bytes(_flipped(data, offset))
        code, out, err = run("verify", str(path))
        assert code == 1 and out.startswith(f"FAILED  {path}: "), (offset, out)
        assert f"record {record_id} at offset {start}: " in out, (offset, out)
        assert "ok" not in out.split()[0] and "Error -3" not in err, "warcio's own messages are not shown"


def test_a_byte_flipped_in_a_waczs_warc_fails_naming_its_record(run, tmp_path: Path) -> None:
    data = _warc(20)
    warc = tmp_path / "00000-t.warc.gz"
    warc.write_bytes(data)
    wacz = tmp_path / "t.wacz"
    write_wacz([warc], wacz, title="t")
    code, out, err = run("verify", str(wacz))
    assert code == 0 and out.startswith(f"ok      {wacz}") and "unsigned" in out, out + err
    packed = wacz.read_bytes()
    with zipfile.ZipFile(wacz) as package:
        info = package.getinfo("archive/00000-t.warc.gz")
        assert info.compress_type == zipfile.ZIP_STORED
    begin = packed.index(data[:64])
    for offset, start, record_id in _ten_offsets(_members(data), len(data)):
        wacz.write_bytes(_flipped(packed, begin + offset))
        code, out, _ = run("verify", str(wacz))
        assert code == 1 and out.startswith(f"FAILED  {wacz}: "), (offset, out)
        assert f"archive/00000-t.warc.gz: record {record_id} at offset {start}: " in out, (offset, out)


def test_a_stored_file_is_checked_against_the_sha256_the_database_recorded(run, ws: Workspace) -> None:
    """A flip no gzip CRC covers (a member's MTIME) is still caught: the file is not the one recorded."""
    data = _warc(5)
    key = warc_key("kept.warc.gz", at("2026-03-02"))
    stored = ws.storage.put_bytes(key, data)
    with session_scope(ws.sessions) as session:
        record(session, CAPTURED, "test", [stored.uri], detail={"sha256": stored.sha256})
    code, out, err = run("verify")
    assert code == 0 and out.startswith(f"ok      {key}"), out + err
    start = _members(data)[2][0]
    ws.storage.put_bytes(key, _flipped(data, start + 5))
    code, out, _ = run("verify")
    assert code == 1 and f"FAILED  {key}: SHA-256 is " in out and "the database recorded" in out, out


@pytest.fixture
def ws(settings) -> Workspace:
    workspace = Workspace(settings)
    yield workspace
    workspace.close()
