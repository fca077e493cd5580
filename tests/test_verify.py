"""`lastseen verify` against damage and forgery: a flipped byte anywhere fails naming its record; hostile
packages and files fail in bounded memory, with a reason; the signer can be pinned."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.db import session_scope
from archive.evidence import CAPTURED, fingerprint, public_key_der, record, sign_hash, signing_key
from archive.export import write_wacz
from archive.storage import warc_key
from archive.workspace import Workspace
from tests.servers.api import at

ROOT = Path(__file__).resolve().parent.parent
HEADERS = 256  # a member's first compressed bytes hold the record's headers: a flip there garbles its id


def _warc(records: int = 39, seed: int = 7) -> bytes:
    """A multi-member .warc.gz of responses, small and large, text (deflate's Huffman codes: a flip there breaks
    the stream) and binary (stored blocks: a flip there breaks only the CRC), as a crawl writes."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    words = ["flood", "river", "bridge", "police", "council", "market", "water", "square", "noon", "video"]
    for number in range(records):
        size = rng.choice([300, 4_000, 30_000])
        body = rng.randbytes(size) if number % 3 == 0 else " ".join(rng.choices(words, k=size // 6)).encode()
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
        assert re.search(rf"record \S+ at offset {start}: ", out), (offset, out)
        if offset - start >= HEADERS:
            assert f"record {record_id} at offset {start}: " in out, (offset, out)
        assert "ok" not in out.split()[0] and "Error -3" not in err, "warcio's own messages are not shown"
    members = _members(data)
    for start, _, _ in members[1:4]:  # a flip in the Huffman tables: the header itself cannot be read back
        path.write_bytes(_flipped(data, start + 20))
        code, out, _ = run("verify", str(path))
        assert code == 1 and f"at offset {start}: gzip member damaged: Error -3" in out, out
    start, length, record_id = members[4]  # deflate fails mid-member: what came before it names the record
    broken = next(out for offset in range(start + length // 2, start + length - 8)
                  if "Error -3" in (out := _verify_flipped(run, path, data, offset)))
    assert f"record {record_id} at offset {start}: gzip member damaged: Error -3" in broken, broken


def _verify_flipped(run, path: Path, data: bytes, offset: int) -> str:
    path.write_bytes(_flipped(data, offset))
    return run("verify", str(path))[1]


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
        assert re.search(rf"archive/00000-t.warc.gz: record \S+ at offset {start}: ", out), (offset, out)
        if offset - start >= HEADERS:
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


_MEASURED = """import os, resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
sys.exit(code)"""


def _child_verify(path: Path, *args: str) -> tuple[int, str, float]:
    """`lastseen verify PATH` in a child process: its exit code, output and peak memory (MB). A small Python
    starts it: a child's peak RSS counts what it inherited at fork, and pytest's own memory is not verify's."""
    env = {**os.environ, "LASTSEEN_DATA_DIR": str(path.parent / "data"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _MEASURED, sys.executable, "-m", "archive.cli", "verify", str(path),
                           *args], env=env, capture_output=True, text=True, timeout=300)
    *out, peak = done.stdout.rstrip("\n").split("\n")
    return done.returncode, "\n".join(out) + done.stderr, float(peak)


def _bomb(write: Callable[[bytes], object], head: bytes, size: int, fill: bytes = b"a") -> None:
    """head, then size bytes of fill, written a MiB at a time (so the test itself stays small)."""
    write(head)
    block = fill * (1024 * 1024)
    for _ in range(size // len(block)):
        write(block)


def test_a_512_mib_header_line_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "long.warc.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        _bomb(out.write, b"WARC/1.0\r\nWARC-Type: resource\r\nX-Long: ", 512 * 1024 * 1024)
    assert path.stat().st_size < 1024 * 1024
    code, out, peak = _child_verify(path)
    print(f"512 MiB header line: exit {code}, peak RSS {peak:.0f} MB")
    assert code == 1 and "FAILED" in out and "a header line longer than 1024 KiB" in out, out
    assert peak < 200, f"verify used {peak:.0f} MB"


def _wacz_with(path: Path, members: dict[str, bytes | Callable[[Callable[[bytes], object]], None]],
               digest: dict[str, object] | None = None) -> None:
    """A WACZ of the given members (bytes, or a writer of streamed bytes); datapackage-digest.json vouching
    for datapackage.json unless given."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, content in members.items():
            with package.open(name, "w", force_zip64=True) as member:
                content(member.write) if callable(content) else member.write(content)
        if "datapackage-digest.json" not in members:
            data = members.get("datapackage.json")
            made = digest or {"path": "datapackage.json",
                              "hash": "sha256:" + hashlib.sha256(data if isinstance(data, bytes) else b"").hexdigest()}
            package.writestr("datapackage-digest.json", json.dumps(made))


def test_zip_bombs_in_a_wacz_are_refused_in_bounded_memory(tmp_path: Path) -> None:
    size = 512 * 1024 * 1024
    bomb = tmp_path / "bomb.wacz"
    _wacz_with(bomb, {"datapackage.json": lambda write: _bomb(write, b"", size, b" ")})
    inside = tmp_path / "inside.wacz"
    listed = json.dumps({"resources": [{"path": "archive/x.warc", "hash": "sha256:00", "bytes": 1}]}).encode()
    _wacz_with(inside, {"datapackage.json": listed,
                        "archive/x.warc": lambda write: _bomb(write, b"WARC/1.0\r\nWARC-Type: resource\r\n", size)})
    for path, says in [(bomb, "datapackage.json is larger than"), (inside, "a header line longer than")]:
        assert path.stat().st_size < 1024 * 1024
        code, out, peak = _child_verify(path)
        print(f"{path.name}: exit {code}, peak RSS {peak:.0f} MB")
        assert code == 1 and "FAILED" in out and says in out, out
        assert peak < 200, f"verify used {peak:.0f} MB on {path.name}"


@pytest.mark.parametrize("members, says", [
    ({"datapackage.json": b"[]"}, "datapackage.json is not a JSON object"),
    ({"datapackage.json": b'{"resources": "x"}'}, "resources is not a list of objects"),
    ({"datapackage.json": b'{"resources": [1]}'}, "resources is not a list of objects"),
    ({"datapackage.json": b'{"resources": [{"path": ["a"]}]}'}, "listed in datapackage.json but not in"),
    ({"datapackage.json": b'{"resources": []}', "datapackage-digest.json": b'"x"'}, "not a JSON object"),
    ({"datapackage.json": b"[" * 100_000}, "datapackage.json is not JSON"),
    ({"datapackage.json": b'{"resources": [], "created": []}',
      "datapackage-digest.json": b'{"hash": 5, "signedData": "x"}'}, "signedData is not an object"),
    ({"datapackage.json": b'{"resources": []}',
      "datapackage-digest.json": b'{"hash": "sha256:00", "signedData": {"publicKey": 5, "signature": []}}'},
     "not valid base64 DER"),
    ({"datapackage.json": b'{"resources": []}', "datapackage-digest.json": b'{"hash": "x", "signedData": {}}'},
     "signedData has neither publicKey nor signature"),
    ({"datapackage.json": b'{"resources": []}', "datapackage-digest.json": json.dumps({"signedData": {
        "signature": "AA==", "domain": "a", "domainCert": "no PEM", "timeSignature": "AA==", "timestampCert": "x"}
    }).encode()}, "not valid PEM and base64"),
])
def test_hostile_package_shapes_fail_with_a_reason(run, tmp_path: Path, members: dict[str, bytes], says: str) -> None:
    path = tmp_path / "hostile.wacz"
    _wacz_with(path, members)
    code, out, err = run("verify", str(path))
    assert code == 1 and out.startswith(f"FAILED  {path}: ") and says in out, out + err
    assert "Traceback" not in err


def test_duplicate_member_names_fail(run, tmp_path: Path) -> None:
    warc = tmp_path / "00000-t.warc.gz"
    warc.write_bytes(_warc(2))
    wacz = tmp_path / "t.wacz"
    write_wacz([warc], wacz, title="t")
    with zipfile.ZipFile(wacz, "a") as package, pytest.warns(UserWarning, match="Duplicate name"):
        package.writestr("archive/00000-t.warc.gz", b"other bytes")
    code, out, _ = run("verify", str(wacz))
    assert code == 1 and "member name 'archive/00000-t.warc.gz' appears more than once" in out, out


def test_the_signer_can_be_pinned(run, ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warc = tmp_path / "00000-t.warc.gz"
    warc.write_bytes(_warc(2))
    unsigned, ours, theirs = tmp_path / "unsigned.wacz", tmp_path / "ours.wacz", tmp_path / "theirs.wacz"
    write_wacz([warc], unsigned, title="t")
    key = signing_key(ws.settings)
    write_wacz([warc], ours, title="t", sign=lambda digest, created: sign_hash(key, digest, created))
    other = ec.generate_private_key(ec.SECP384R1())
    write_wacz([warc], theirs, title="t", sign=lambda digest, created: sign_hash(other, digest, created))
    mine, stranger = fingerprint(public_key_der(key)), fingerprint(public_key_der(other))

    code, out, _ = run("verify", str(unsigned))
    assert code == 0 and out.rstrip().endswith("no timestamp token, unsigned"), out
    code, out, _ = run("verify", str(theirs))
    assert code == 0 and f"signed by another key {stranger}" in out, out
    code, out, _ = run("verify", str(ours))
    assert code == 0 and f"signed by this deployment's key {mine}" in out, out

    code, out, _ = run("verify", str(unsigned), "--key", mine)
    assert code == 1 and f"unsigned, but a signature by {mine} is required" in out, out
    code, out, _ = run("verify", str(theirs), "--key", mine)
    assert code == 1 and f"signed by another key ({stranger}), not the required {mine}" in out, out
    code, out, _ = run("verify", str(ours), "--key", mine)
    assert code == 0 and f"signed by the required key {mine}" in out, out
    monkeypatch.setenv("LASTSEEN_WACZ_SIGNER", mine)
    assert run("verify", str(theirs))[0] == 1, "the setting pins the signer like --key"
    code, _, err = run("verify", str(ours), "--key", "abc")
    assert code == 2 and "--key wants a key fingerprint" in err
