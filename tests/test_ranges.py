"""A Range or HEAD of an archived copy reads only what it serves: the API, run as its own process, stays small
while a client asks for two bytes of a 300 MB video, its headers, its last bytes, and four ranges at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from archive.config import Settings
from archive.db import session_scope
from archive.models import Capture
from archive.sources import ensure_collection
from archive.storage import warc_key
from archive.tokens import create_token
from archive.workspace import Workspace
from tests.servers.api import add_source, at

SIZE = 300 * 1024 * 1024
PATTERN = bytes(range(256)) * 4096  # byte i of the body is i % 256


def _video_warc(path: Path) -> tuple[int, int]:
    """One gzip-member WARC response record of a SIZE-byte MP4 body, written a MiB at a time; its offset and
    length in the file."""
    http = (f"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {SIZE}\r\n\r\n").encode()
    warc = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:8c5f0a52-3c55-4a8e-9f0e-1a2b3c4d5e6f>\r\n"
            f"WARC-Date: 2026-03-01T10:00:00Z\r\nWARC-Target-URI: https://video.example/clip.mp4\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http) + SIZE}\r\n\r\n").encode()
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with path.open("wb") as out:
        out.write(packer.compress(warc + http))
        for _ in range(SIZE // len(PATTERN)):
            out.write(packer.compress(PATTERN))
        out.write(packer.compress(b"\r\n\r\n") + packer.flush())
    return 0, path.stat().st_size


def _peak_mb(pid: int) -> float:
    """A process's peak resident memory so far (VmHWM, which its exec started afresh), in MB."""
    found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) / 1024 if found else 0.0


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, str, int, subprocess.Popen[str]]]:
    """The video stored and captured, and `lastseen serve` running on it: (base URL, reader token, capture id,
    the server process)."""
    ws = Workspace(settings)
    try:
        local = tmp_path / "video.warc.gz"
        offset, length = _video_warc(local)
        stored = ws.storage.put_file(warc_key("video.warc.gz", at("2026-03-01")), local)
        local.unlink()
        with session_scope(ws.sessions) as session:
            source = add_source(session, ensure_collection(session, "v"), "https://video.example/clip.mp4")
            capture = Capture(source_id=source.id, captured_at=at("2026-03-01T10:00"),
                              url="https://video.example/clip.mp4", http_status=200, content_type="video/mp4",
                              payload_sha256="0" * 64, size=SIZE, record_type="response", warc_uri=stored.uri,
                              warc_offset=offset, warc_length=length, record_id="<urn:uuid:x>")
            session.add(capture)
            session.flush()
            capture_id = capture.id
            token = create_token(session, "reader", "reader")
    finally:
        ws.close()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LASTSEEN_")},
           "LASTSEEN_DATA_DIR": str(settings.data_dir), "LASTSEEN_DATABASE_URL": settings.database_url,
           "LASTSEEN_STORAGE_URL": settings.storage_url, "LASTSEEN_S3_ENDPOINT_URL": settings.s3_endpoint_url}
    server = subprocess.Popen([sys.executable, "-c", "from archive.cli import run; run()", "serve", "--port", "0"],
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        found = re.search(r"on http://127\.0\.0\.1:(\d+)/", server.stderr.readline() if server.stderr else "")
        assert found, "lastseen serve did not start"
        threading.Thread(target=server.stderr.read, daemon=True).start()  # its request log never fills the pipe
        yield f"http://127.0.0.1:{found.group(1)}", token, capture_id, server
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_two_byte_range_of_a_300_mb_capture_reads_only_what_it_serves(
        served: tuple[str, str, int, subprocess.Popen[str]], storage_url: str) -> None:
    base, token, capture_id, server = served
    url = f"{base}/api/captures/{capture_id}"
    auth = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{base}/healthz", timeout=30).status_code == 200
    start = _peak_mb(server.pid)

    part = requests.get(url, headers={**auth, "Range": "bytes=0-1"}, timeout=60)
    assert part.status_code == 206 and part.content == b"\x00\x01", part.text[:200]
    assert part.headers["Content-Range"] == f"bytes 0-1/{SIZE}"
    head = requests.head(url, headers=auth, timeout=60)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(SIZE)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: requests.get(url, headers={**auth, "Range": "bytes=0-1"}, timeout=60),
                                range(4)))
    assert all(answer.status_code == 206 and answer.content == b"\x00\x01" for answer in answers)
    after_ranges = _peak_mb(server.pid)
    tail = requests.get(url, headers={**auth, "Range": "bytes=-2"}, timeout=120)
    assert tail.status_code == 206 and tail.content == bytes([(SIZE - 2) % 256, (SIZE - 1) % 256])
    peak = _peak_mb(server.pid)
    print(f"{storage_url.split(':')[0]}: API peak RSS {start:.0f} MB at start, {after_ranges:.0f} MB after "
          f"Range 0-1 x5 and HEAD, {peak:.0f} MB after the last two bytes")
    assert after_ranges < 300 and peak < 300, (start, after_ranges, peak)
