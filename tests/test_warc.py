"""The WARC writer: records as received, digests, revisits, rollover, CDXJ, WACZ, reading one record back."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archive.export import write_wacz
from archive.warc import (
    ClosedWarc,
    RevisitTarget,
    RollingWarcWriter,
    WarcError,
    iter_records,
    read_record,
    salvage,
    sha1_b32,
    write_cdxj,
    write_index,
)

WHEN = datetime(2026, 11, 24, 10, 30, 15, 123456, tzinfo=UTC)
INFO = {"software": "lastseen-test", "isPartOf": "unit"}


def writer(tmp_path: Path, closed: list[ClosedWarc], max_size: int = 10**9) -> RollingWarcWriter:
    return RollingWarcWriter(tmp_path / "spool", prefix="unit", max_size=max_size, warcinfo=INFO,
                             on_close=closed.append)


def exchange(w: RollingWarcWriter, body: bytes, url: str = "http://example.test/a?b=1", **kw):  # type: ignore[no-untyped-def]
    headers = kw.pop("headers", [("Content-Type", "text/html; charset=utf-8"), ("Set-Cookie", "a=1"),
                                 ("Set-Cookie", "b=2")])
    return w.write_exchange(url=url, method="GET", request_headers=[("Host", "example.test"), ("Accept", "*/*")],
                            http_version="HTTP/1.1", status=kw.pop("status", 200), reason="OK",
                            response_headers=headers, body=body, ip_address="127.0.0.1", fetched_at=WHEN, **kw)


def warcio_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
                          capture_output=True, text=True)


def test_records_hold_the_wire_body_and_pass_warcio_check(tmp_path: Path) -> None:
    closed: list[ClosedWarc] = []
    w = writer(tmp_path, closed)
    wire = gzip.compress(b"<html><title>x</title>" + b"y" * 5000 + b"</html>")
    headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")]
    records = exchange(w, wire, headers=headers)
    w.close()
    assert len(closed) == 1
    path = closed[0].path
    assert path.exists() and path.name.endswith(".warc.gz") and not list(path.parent.glob("*.open"))
    result = warcio_check(path)
    assert result.returncode == 0, result.stdout + result.stderr

    data = path.read_bytes()
    resp = records.response
    record = read_record(data[resp.offset:resp.offset + resp.length])
    assert record.record_type == "response"
    assert record.body == wire
    assert record.http_status == 200
    assert record.header("Content-Encoding") == "gzip"
    assert record.header("Transfer-Encoding") is None
    assert record.header("Content-Length") == str(len(wire))
    assert record.payload_digest == sha1_b32(wire) == resp.payload_digest
    assert record.date == "2026-11-24T10:30:15.123456Z" == resp.date
    assert resp.payload_size == len(wire)

    req = records.request
    request = read_record(data[req.offset:req.offset + req.length])
    assert request.record_type == "request"
    assert request.target_uri == "http://example.test/a?b=1"

    kinds = [(r.record_type, r.target_uri) for _, _, r in iter_records(path)]
    assert kinds[0] == ("warcinfo", "")
    assert kinds[1:] == [("response", "http://example.test/a?b=1"), ("request", "http://example.test/a?b=1")]


def test_repeated_headers_ip_and_concurrent_link(tmp_path: Path) -> None:
    closed: list[ClosedWarc] = []
    w = writer(tmp_path, closed)
    records = exchange(w, b"hello")
    w.close()
    by_type = {}
    from warcio.archiveiterator import ArchiveIterator

    with closed[0].path.open("rb") as fh:
        for rec in ArchiveIterator(fh):
            by_type[rec.rec_type] = (rec.rec_headers, rec.http_headers)
    resp_headers, resp_http = by_type["response"]
    req_headers, req_http = by_type["request"]
    assert resp_headers.get_header("WARC-IP-Address") == "127.0.0.1"
    assert req_headers.get_header("WARC-Concurrent-To") == resp_headers.get_header("WARC-Record-ID")
    assert resp_headers.get_header("WARC-Record-ID") == records.response.record_id
    assert [v for k, v in resp_http.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert f"{req_http.protocol} {req_http.statusline}" == "GET /a?b=1 HTTP/1.1"
    assert resp_headers.get_header("WARC-Block-Digest", "").startswith("sha1:")
    assert by_type["warcinfo"][0].get_header("WARC-Filename") == closed[0].path.name


def test_identical_payload_becomes_a_revisit(tmp_path: Path) -> None:
    closed: list[ClosedWarc] = []
    w = writer(tmp_path, closed)
    first = exchange(w, b"same body")
    target = RevisitTarget(uri=first.response.target_uri, date=first.response.date,
                           payload_digest=first.response.payload_digest)
    second = exchange(w, b"same body", revisit_of=target)
    third = exchange(w, b"other body", revisit_of=target)
    w.close()
    assert second.response.record_type == "revisit"
    assert third.response.record_type == "response"
    data = closed[0].path.read_bytes()
    revisit = read_record(data[second.response.offset:second.response.offset + second.response.length])
    assert revisit.refers_to_uri == first.response.target_uri
    assert revisit.refers_to_date == first.response.date
    assert revisit.payload_digest == first.response.payload_digest
    assert revisit.body == b""
    assert warcio_check(closed[0].path).returncode == 0


def test_files_roll_over_and_each_opens_with_warcinfo(tmp_path: Path) -> None:
    closed: list[ClosedWarc] = []
    w = writer(tmp_path, closed, max_size=2000)
    import os

    names = {exchange(w, os.urandom(3000)).response.file_name for _ in range(4)}
    w.close()
    assert len(closed) == 4 and names == {c.path.name for c in closed}
    for c in closed:
        first = next(iter(iter_records(c.path)))[2]
        assert first.record_type == "warcinfo"
        assert c.records == 3 and c.size == c.path.stat().st_size


def test_cdxj_index_lists_captures_by_surt(tmp_path: Path) -> None:
    closed: list[ClosedWarc] = []
    w = writer(tmp_path, closed)
    first = exchange(w, b"<p>x</p>", url="http://Example.test/page")
    target = RevisitTarget(uri=first.response.target_uri, date=first.response.date,
                           payload_digest=first.response.payload_digest)
    exchange(w, b"<p>x</p>", url="http://Example.test/page", revisit_of=target)
    exchange(w, b"", url="http://example.test/gone", status=404, headers=[])
    exchange(w, b"<p>y</p>", url="https://b.example.test/z?q=1&a=2")
    records = exchange(w, b"<p>x</p>", url="http://Example.test/page")
    w.write_metadata(url="http://Example.test/page", concurrent_to=records.response.record_id,
                     fields={"title": "Кириллица"}, fetched_at=WHEN)
    w.close()
    cdxj = write_index(closed[0])
    assert cdxj == closed[0].path.with_name(closed[0].path.name + ".cdxj") and cdxj.exists()
    lines = cdxj.read_text().splitlines()
    # The index built while writing is the one Webrecorder's cdxj-indexer makes from the finished file.
    reference = write_cdxj(closed[0].path, tmp_path / "reference.cdxj")
    assert lines == reference.read_text().splitlines()
    parsed = [(key, stamp, json.loads(body)) for key, stamp, body in (line.split(" ", 2) for line in lines)]
    page = [(k, t, f) for k, t, f in parsed if f.get("status") == "200" and f.get("mime") == "text/html"]
    assert {(k, t) for k, t, _ in page} == {("test,example)/page", "20261124103015"), ("test,example,b)/z?a=2&q=1",
                                                                                   "20261124103015")}
    spots = {(f["offset"], f["length"]) for _, _, f in page}
    assert (str(records.response.offset), str(records.response.length)) in spots
    assert (str(first.response.offset), str(first.response.length)) in spots
    assert any(f.get("mime") == "warc/revisit" for _, _, f in parsed)
    assert {f["filename"] for _, _, f in parsed} == {closed[0].path.name}
    assert any(p[2].get("mime") == "application/json" for p in parsed)


def test_metadata_record_is_json(tmp_path: Path) -> None:
    closed: list[ClosedWarc] = []
    w = writer(tmp_path, closed)
    records = exchange(w, b"x")
    info = w.write_metadata(url="http://example.test/a?b=1", concurrent_to=records.response.record_id,
                            fields={"title": "Заголовок", "authors": ["A"]}, fetched_at=WHEN)
    w.close()
    record = read_record(closed[0].path.read_bytes()[info.offset:info.offset + info.length])
    assert record.record_type == "metadata"
    assert json.loads(record.body) == {"title": "Заголовок", "authors": ["A"]}


def test_failed_hand_over_keeps_the_file(tmp_path: Path) -> None:
    def refuse(closed: ClosedWarc) -> None:
        raise OSError("storage is down")

    w = RollingWarcWriter(tmp_path, prefix="unit", max_size=10**9, warcinfo=INFO, on_close=refuse)
    exchange(w, b"keep me")
    w.close()
    kept = list(tmp_path.glob("*.warc.gz"))
    assert len(kept) == 1 and b"keep me" in gzip.decompress(kept[0].read_bytes())


def test_nothing_written_means_no_file(tmp_path: Path) -> None:
    closed: list[ClosedWarc] = []
    writer(tmp_path, closed).close()
    assert closed == []


def test_garbage_is_a_clear_error() -> None:
    with pytest.raises(WarcError):
        read_record(b"this is not a WARC record")
    with pytest.raises(WarcError):
        read_record(b"")


def test_wacz_package(tmp_path: Path) -> None:
    closed: list[ClosedWarc] = []
    w = writer(tmp_path, closed, max_size=1)
    exchange(w, b"<p>one</p>", url="http://example.test/one")
    exchange(w, b"<p>two</p>", url="http://example.test/two")
    w.close()
    out = tmp_path / "out.wacz"
    pages = [{"url": "http://example.test/one", "ts": "2026-11-24T10:30:15Z", "title": "One"}]
    write_wacz([c.path for c in closed], out, title="t", pages=pages)
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        assert {f"archive/{c.path.name}" for c in closed} <= names
        assert {"indexes/index.cdx.gz", "indexes/index.idx", "pages/pages.jsonl", "datapackage.json",
                "datapackage-digest.json"} <= names
        stored = [i for i in z.infolist() if i.filename.startswith(("archive/", "indexes/index.cdx.gz"))]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in stored), "read by ranges"
        assert z.getinfo("pages/pages.jsonl").compress_type == zipfile.ZIP_DEFLATED, "read whole: compressed"
        package = json.loads(z.read("datapackage.json"))
        assert package["wacz_version"] == "1.1.1"
        import hashlib

        for resource in package["resources"]:
            data = z.read(resource["path"])
            assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert resource["bytes"] == len(data)
        index = gzip.decompress(z.read("indexes/index.cdx.gz")).decode().splitlines()
        assert [line.split(" ")[0] for line in index] == ["test,example)/one", "test,example)/two"]
        idx = z.read("indexes/index.idx").decode().splitlines()
        assert json.loads(idx[0].split(" ", 2)[2]) == {"format": "cdxj-gzip-1.0", "filename": "index.cdx.gz"}
        block = json.loads(idx[1].split(" ", 2)[2])
        assert idx[1].startswith("test,example)/one ") and block["offset"] == 0 and block["length"] > 0
        page_lines = [json.loads(line) for line in z.read("pages/pages.jsonl").decode().splitlines()]
        assert page_lines[0]["format"] == "json-pages-1.0" and page_lines[1]["url"] == "http://example.test/one"


def test_wacz_pages_are_the_html_pages_read_from_the_records(tmp_path: Path) -> None:
    from archive.export import wacz_pages

    closed: list[ClosedWarc] = []
    w = writer(tmp_path, closed)
    html = [("Content-Type", "text/html; charset=utf-8")]
    page = b"<html><head><title>First</title></head><body><article><p>" + b"The river rose overnight. " * 20 \
        + b"</p></article></body></html>"
    exchange(w, gzip.compress(page), url="http://example.test/page", headers=[*html, ("Content-Encoding", "gzip")])
    later = w.write_exchange(url="http://example.test/page", method="GET", request_headers=[],
                             http_version="HTTP/1.1", status=200, reason="OK", response_headers=html,
                             body=b"<title>Later</title>", ip_address=None,
                             fetched_at=datetime(2026, 11, 25, tzinfo=UTC))
    described = exchange(w, b"<title>raw</title>", url="http://example.test/described")
    w.write_metadata(url="http://example.test/described", concurrent_to=described.response.record_id,
                     fields={"title": "Described", "text": "what the crawl extracted"}, fetched_at=WHEN)
    exchange(w, b"\x89PNG...", url="http://example.test/logo.png", headers=[("Content-Type", "image/png")])
    exchange(w, b"<title>Gone</title>", url="http://example.test/gone", headers=html, status=404)
    exchange(w, b"", url="http://example.test/old", headers=[("Location", "/page")], status=301)
    w.close()
    assert later.response.record_type == "response"
    pages = wacz_pages([c.path for c in closed])
    assert [(p["url"], p["ts"], p["title"]) for p in pages] == [
        ("http://example.test/described", "2026-11-24T10:30:15Z", "Described"),
        ("http://example.test/page", "2026-11-24T10:30:15Z", "First"),
    ], "HTML 200 responses only, each once at its first capture"
    assert pages[0]["text"] == "what the crawl extracted", "from the page's metadata record"
    assert "The river rose overnight." in pages[1]["text"], "extracted from the (gzip) body without one"


def test_files_also_roll_over_by_age(tmp_path: Path) -> None:
    now = [100.0]
    closed: list[ClosedWarc] = []
    w = RollingWarcWriter(tmp_path, prefix="unit", max_size=10**9, warcinfo=INFO, on_close=closed.append,
                          max_age=60, clock=lambda: now[0])
    exchange(w, b"one")
    now[0] += 59
    w.roll_if_old()
    assert closed == [], "not old yet"
    now[0] += 2
    w.roll_if_old()
    assert len(closed) == 1, "a quiet crawl's file is closed and handed over when it is old"
    second = exchange(w, b"two")
    now[0] += 61
    third = exchange(w, b"three")
    assert len(closed) == 2 and second.response.file_name != third.response.file_name
    w.roll_if_old()
    assert len(closed) == 2, "the new file is young"
    w.close()
    assert len(closed) == 3


def test_salvage_cuts_a_dead_crawls_file_back_to_whole_records(tmp_path: Path) -> None:
    w = RollingWarcWriter(tmp_path / "spool", prefix="unit", max_size=10**9, warcinfo=INFO, on_close=lambda c: None)
    for n in range(3):
        exchange(w, f"body {n}".encode() * 50, url=f"http://example.test/{n}")
    w._fh.flush()  # the process dies here: the file is still .open
    (live,) = (tmp_path / "spool").glob("*.warc.gz.open")
    whole = live.stat().st_size
    with live.open("r+b") as fh:
        fh.truncate(whole - 7)  # the last record was being written
    closed = salvage(live)
    assert closed is not None and closed.records == 6 and closed.path.name.endswith(".warc.gz")
    assert not live.exists() and closed.size == closed.path.stat().st_size < whole
    assert warcio_check(closed.path).returncode == 0
    assert [r.target_uri for _, _, r in iter_records(closed.path) if r.record_type == "response"] == [
        f"http://example.test/{n}" for n in range(3)]
    cdxj = write_index(closed)
    assert len(cdxj.read_text().splitlines()) == 3, "indexed from the file itself"

    empty = tmp_path / "spool" / "unit-x.warc.gz.open"
    empty.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert salvage(empty) is None
