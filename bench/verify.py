"""Verify benchmark: `lastseen verify`'s reading of a multi-member .warc.gz against warcio doing the same work.

Usage: .venv/bin/python bench/verify.py [--records 5000] [--size 20000]
Writes a WARC of response records (incompressible bodies), then times, in the same run, warcio's own digest
check (ArchiveIterator with check_digests, which skips damaged members) and lastseen's (every gzip member's
CRC, every digest, the file's SHA-256). Prints both and the ratio; the price of checking every member.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.evidence.records import Members, check_records  # noqa: E402


def write(path: Path, records: int, size: int) -> None:
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for number in range(records):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "application/octet-stream")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"https://news.example/{number}", "response",
                                                          payload=io.BytesIO(os.urandom(size)), http_headers=headers))


def plain_warcio(path: Path) -> float:
    start = time.process_time()
    with path.open("rb") as handle:
        for record in ArchiveIterator(handle, check_digests=True):
            while record.raw_stream.read(65536):
                pass
    return time.process_time() - start


def lastseen(path: Path) -> float:
    start = time.process_time()
    with path.open("rb") as handle:
        members = Members(handle.read)
        records, problems = check_records(members)
        members.finish()
    assert not problems, problems[:3]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--size", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.warc.gz"
        write(path, args.records, args.size)
        megabytes = path.stat().st_size / 1e6
        warcio_cpu = min(plain_warcio(path) for _ in range(3))
        ours = min(lastseen(path) for _ in range(3))
    print(f"{args.records} records, {megabytes:.0f} MB: warcio {warcio_cpu:.2f} s CPU, lastseen verify "
          f"{ours:.2f} s CPU, ratio {ours / warcio_cpu:.2f}x")


if __name__ == "__main__":
    main()
