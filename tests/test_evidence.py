"""Evidence-grade captures: RFC 3161 tokens from a real TSA on loopback, and `lastseen verify`."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.config import Settings
from archive.db import session_scope
from archive.evidence import CustodyError, HttpTimestampAuthority, sign_hash, signing_key
from archive.export import write_wacz
from archive.models import CustodyEvent, TimestampToken
from archive.sources import ensure_collection
from archive.storage import warc_key
from archive.workspace import Workspace
from tests.servers.api import add_capture, add_source, at, store_exchange
from tests.servers.site import Page, Site
from tests.servers.tsa import TsaServer
from tests.test_crawl import crawl


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[TsaServer]:
    """A real timestamp authority (openssl ts -reply) with a CA made for this test."""
    server = TsaServer(tmp_path / "tsa")
    yield server
    server.close()


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    workspace = Workspace(settings)
    yield workspace
    workspace.close()


def _store(ws: Workspace, collection: str = "c") -> tuple[str, Path]:
    """One page fetch in a real stored WARC file with its capture row; the file's key and local path."""
    record, uri = store_exchange(ws, "https://news.example/story", b"<html>the story</html>", when=at("2026-03-01"))
    with session_scope(ws.sessions) as session:
        add_capture(session, add_source(session, ensure_collection(session, collection), "https://news.example/story"),
                    record, uri)
    key = ws.storage.key_of(uri)
    return key, ws.settings.data_dir / "storage" / key


def _openssl_verify(data: Path, token: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "ts", "-verify", "-data", str(data), "-in", str(token), "-CAfile", str(ca)],
                          capture_output=True, text=True, timeout=60)


def test_a_stamped_warc_verifies_with_openssl_and_lastseen(run, ws: Workspace, tsa: TsaServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    key, path = _store(ws)
    monkeypatch.setenv("LASTSEEN_TSA_URLS", tsa.url)
    code, out, err = run("timestamp")
    assert code == 0, err
    assert f"stamped {key}.tsr  by {tsa.url}" in out and "1 token(s) kept, 0 failed" in out
    token = path.with_name(path.name + ".tsr")
    result = _openssl_verify(path, token, tsa.ca_pem)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr
    with session_scope(ws.sessions) as session:
        row = session.scalars(select(TimestampToken)).one()
        assert (row.file_uri, row.tsa_url, row.token_size) == (ws.storage.uri(key), tsa.url, token.stat().st_size)
        assert row.gen_time.tzinfo is not None
    code, out, err = run("verify", "--tsa-cert", str(tsa.ca_pem))
    assert code == 0, out + err
    assert out.startswith(f"ok      {key}  sha256:") and "3 records, timestamped 20" in out
    code, out, _ = run("verify", "-c", "c", "--tsa-cert", str(tsa.ca_pem), "--json")
    report = json.loads(out)[0]
    assert code == 0 and report["ok"] and report["records"] == 3 and report["tokens"][0]["token"] == f"{key}.tsr"
    code, out, _ = run("verify", str(path), "--tsa-cert", str(tsa.ca_pem))
    assert code == 0 and out.startswith(f"ok      {path}"), "a local file is checked with the FILE.tsr beside it"
    asked = tsa.requests
    code, out, _ = run("timestamp")
    assert code == 0 and "0 token(s) kept" in out and tsa.requests == asked, "a stamped file is not stamped again"
    code, out, err = run("verify")
    assert code == 4 and out.startswith(f"UNCHECKED {key}  sha256:"), "no TSA certificate: intact, time unchecked"
    assert "signature of the time not checked (no TSA certificate)" in out and "failed" not in out + err

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, out, err = run("verify", "--tsa-cert", str(tsa.ca_pem))
    assert code == 1 and out.startswith(f"FAILED  {key}: ") and "1 of 1 file(s) failed verification" in err
    assert "the token is for other bytes" in out
    assert _openssl_verify(path, token, tsa.ca_pem).returncode != 0


@pytest.mark.parametrize("mode, says", [("error", "answered HTTP 500"), ("garbage", "not a timestamp response")])
def test_a_failing_tsa_gives_one_line_and_no_token(run, ws: Workspace, tsa: TsaServer, monkeypatch: pytest.MonkeyPatch,
                                                   mode: str, says: str) -> None:
    key, path = _store(ws)
    monkeypatch.setenv("LASTSEEN_TSA_URLS", tsa.url)
    tsa.mode = mode
    code, out, _ = run("timestamp")
    failure = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert code == 1 and len(failure) == 1 and says in failure[0] and tsa.url in failure[0]
    assert not path.with_name(path.name + ".tsr").exists()
    with session_scope(ws.sessions) as session:
        assert session.scalars(select(TimestampToken)).all() == []
    tsa.mode = "ok"
    code, out, _ = run("timestamp")
    assert code == 0 and f"stamped {key}.tsr" in out, "the file is asked for again once the TSA works"


def test_a_second_tsa_adds_a_second_token(run, ws: Workspace, tsa: TsaServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    key, path = _store(ws)
    other = TsaServer(tmp_path / "other")
    try:
        monkeypatch.setenv("LASTSEEN_TSA_URLS", f"{tsa.url},{other.url}")
        code, out, _ = run("timestamp")
        assert code == 0 and f"stamped {key}.tsr" in out and f"stamped {key}.2.tsr" in out
        both = tmp_path / "both.pem"
        both.write_bytes(tsa.ca_pem.read_bytes() + other.ca_pem.read_bytes())
        code, out, _ = run("verify", "--json", "--tsa-cert", str(both))
        assert code == 0 and len(json.loads(out)[0]["tokens"]) == 2
        code, out, _ = run("verify", "--tsa-cert", str(tsa.ca_pem))
        assert code == 1 and f"token {key}.2.tsr" in out and "does not verify" in out
    finally:
        other.close()


def _tsa_stamp(tsa: TsaServer, path: Path) -> Path:
    """FILE.tsr beside a local file, asked of the TSA as lastseen asks it."""
    token = path.with_name(path.name + ".tsr")
    token.write_bytes(HttpTimestampAuthority(tsa.url, requests.Session()).stamp(path.read_bytes()).der)
    return token


def _warc_with_bad_payload_digest() -> bytes:
    """A gzipped WARC response whose body changed after warcio wrote its digests."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=False)
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record("https://x.example/", "response", payload=io.BytesIO(b"hello world"),
                                                  http_headers=headers))
    return gzip.compress(buffer.getvalue().replace(b"hello world", b"jello world"))


def test_a_record_whose_payload_changed_fails(run, ws: Workspace) -> None:
    key = warc_key("bad.warc.gz", at("2026-03-02"))
    ws.storage.put_bytes(key, _warc_with_bad_payload_digest())
    good, _ = _store(ws)
    code, out, _ = run("verify")
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert code == 1 and lines["ok"].startswith(good)
    assert lines["FAILED"].startswith(f"{key}: record <urn:uuid:") and "payload digest failed" in lines["FAILED"]
    local = ws.settings.data_dir / "bad.warc.gz"
    local.write_bytes(_warc_with_bad_payload_digest())
    code, out, _ = run("verify", str(local))
    assert code == 1 and "block digest failed" in out and str(local) in out


def test_a_wacz_verifies_alone(tsa: TsaServer, ws: Workspace, run, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A third party's check: the WACZ and the CA, no database (an unreachable one is never opened)."""
    _, path = _store(ws)
    monkeypatch.setenv("LASTSEEN_TSA_URLS", tsa.url)
    assert run("timestamp")[0] == 0
    wacz = tmp_path / "c.wacz"
    write_wacz([path], wacz, title="c", pages=[])
    with zipfile.ZipFile(wacz, "a") as package:
        package.write(path.with_name(path.name + ".tsr"), f"archive/{path.name}.tsr")
    monkeypatch.setenv("LASTSEEN_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    code, out, _ = run("verify", str(wacz), "--tsa-cert", str(tsa.ca_pem), "--json")
    report = json.loads(out)[0]
    assert code == 0 and report["ok"] and report["records"] == 3
    assert report["tokens"][0]["token"] == f"archive/{path.name}.tsr"
    token = _tsa_stamp(tsa, wacz)
    code, out, _ = run("verify", str(wacz), "--tsa-cert", str(tsa.ca_pem), "--json")
    assert code == 0 and json.loads(out)[0]["tokens"][1]["token"] == str(token), "a token of the WACZ itself"
    data = bytearray(wacz.read_bytes())
    inner = data.find(path.read_bytes()[:64])
    data[inner + 200] ^= 0x01
    wacz.write_bytes(bytes(data))
    code, out, _ = run("verify", str(wacz), "--tsa-cert", str(tsa.ca_pem))
    assert code == 1 and out.startswith(f"FAILED  {wacz}: ") and f"archive/{path.name}: SHA-256 is not" in out


def test_bad_arguments_are_one_line(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_pem = tmp_path / "x.pem"
    not_pem.write_text("hello")
    for args, says in [(("verify", "-c", "c", "f.warc.gz"), "not both"),
                       (("verify", str(tmp_path / "none.warc.gz")), "no such file"),
                       (("verify", "--tsa-cert", str(not_pem)), "holds no PEM certificate"),
                       (("verify", "-c", "nope"), "no collection named 'nope'"),
                       (("timestamp",), "no timestamp authority configured")]:
        code, out, err = run(*args)
        expected = 3 if "no collection" in says else 2  # not found, as everywhere; else bad usage
        assert code == expected and says in err and err.count("\n") == 1 and out == "", args


def test_config_check_says_whether_tsas_are_configured(run, tsa: TsaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run("config", "--check")
    assert code == 0 and "none configured (LASTSEEN_TSA_URLS)" in out
    monkeypatch.setenv("LASTSEEN_TSA_URLS", tsa.url)
    monkeypatch.setenv("LASTSEEN_TSA_CERTS", str(tsa.ca_pem))
    code, out, _ = run("config", "--check")
    assert code == 0 and "timestamps: 1 TSA(s) configured, tokens checked with 1 certificate(s)" in out
    monkeypatch.setenv("LASTSEEN_TSA_URLS", "ftp://tsa.example/")
    code, _, err = run("config", "--check")
    assert code == 2 and "LASTSEEN_TSA_URLS: not an http(s) URL" in err


def _spec_check(wacz: Path) -> None:
    """The WACZ signing spec's anonymous check, done as a third party would: `cryptography` and the spec alone
    (the signature is WebCrypto's raw r||s, as ArchiveWeb.page writes it)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    with zipfile.ZipFile(wacz) as package:
        digest = json.loads(package.read("datapackage-digest.json"))
        datapackage = package.read("datapackage.json")
    signed = digest["signedData"]
    assert set(signed) == {"hash", "created", "software", "signature", "publicKey"}, "ArchiveWeb.page's properties"
    assert signed["hash"] == digest["hash"] == "sha256:" + hashlib.sha256(datapackage).hexdigest()
    assert signed["created"] == json.loads(datapackage)["created"]
    key = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    raw = base64.b64decode(signed["signature"])
    assert len(raw) == 96, "raw r||s of P-384, not DER"
    der = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
    key.verify(der, signed["hash"].encode(), ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_crawl_is_timestamped_signed_and_in_the_custody_record(run, ws: Workspace, tsa: TsaServer, site: Site,
                                                                  tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    site.set("/story", Page("<html><head><title>Story</title></head><body><p>what happened</p></body></html>"))
    url = site.url("/story")
    assert run("add", url, "-c", "ev")[0] == 0
    env = {"LASTSEEN_PROXY": "", "LASTSEEN_TSA_URLS": tsa.url, "LASTSEEN_TSA_CERTS": str(tsa.ca_pem),
           "LASTSEEN_OPERATOR": "Valley Desk", "LASTSEEN_EGRESS_REGION": "eu-west", "LASTSEEN_SCREENSHOTS": "no",
           "LASTSEEN_CAPTURE": "http"}
    code, summary, stderr = crawl(ws.settings, site, "-c", "ev", extra_env=env)
    assert code == 0 and summary["captured"] == 1 and summary["timestamps"] == {"kept": 1, "failed": 0}, stderr
    key = ws.storage.key_of(summary["warc_files"][0])
    path = ws.settings.data_dir / "storage" / key
    token = path.with_name(path.name + ".tsr")
    result = _openssl_verify(path, token, tsa.ca_pem)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr
    code, out, _ = run("verify", "--tsa-cert", str(tsa.ca_pem))
    assert code == 0 and out.startswith(f"ok      {key}") and "timestamped 20" in out
    with path.open("rb") as handle:
        info = next(iter(ArchiveIterator(handle)))
        fields = dict(line.split(": ", 1) for line in info.content_stream().read().decode().splitlines() if line)
    assert fields["operator"] == "Valley Desk" and fields["egress-region"] == "eu-west"
    assert fields["egress-proxy"] == "direct" and fields["startedBy"].endswith(": lastseen crawl -c ev")
    assert fields["software"].startswith("lastseen/") and fields["hostname"]

    monkeypatch.setenv("LASTSEEN_TSA_URLS", tsa.url)
    wacz = tmp_path / "out" / "ev.wacz"
    code, out, err = run("export", "-c", "ev", str(wacz))
    assert code == 0 and "signed by key sha256:" in out, err
    assert wacz.with_name("ev.wacz.tsr").is_file(), "the package is timestamped beside it"
    _spec_check(wacz)
    with zipfile.ZipFile(wacz) as package:
        names = package.namelist()
        custody = [json.loads(line) for line in package.read("custody/custody.jsonl").splitlines()]
    assert any(name.startswith("archive/") and name.endswith(".warc.gz.tsr") for name in names)
    # The page's metadata, described after the crawl, is a WARC file of its own: stored, named and stamped too.
    meta = next(event["subject"] for event in custody if ".meta-" in event["subject"])
    assert [(event["action"], event["subject"]) for event in custody] == [
        ("added", url), ("captured", ws.storage.uri(key)), ("timestamped", ws.storage.uri(key)),
        ("captured", meta), ("timestamped", meta)]
    assert custody[0]["actor"].endswith(": lastseen add") and custody[1]["detail"]["sha256"]
    with session_scope(ws.sessions) as session:
        logged = session.scalars(select(CustodyEvent).order_by(CustodyEvent.id)).all()
        assert [event.action for event in logged] == ["added", "captured", "timestamped", "captured", "timestamped",
                                                      "exported"]
        assert logged[-1].subject == str(wacz) and logged[-1].detail["sha256"] == hashlib.sha256(
            wacz.read_bytes()).hexdigest()
        logged[0].actor = "someone else"
        with pytest.raises(CustodyError):
            session.flush()
        session.rollback()

    monkeypatch.setenv("LASTSEEN_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    code, out, _ = run("verify", str(wacz), "--tsa-cert", str(tsa.ca_pem))
    assert code == 0 and out.startswith(f"ok      {wacz}") and "signed by this deployment's key sha256:" in out, out
    data = bytearray(wacz.read_bytes())
    inner = data.find(path.read_bytes()[:64])
    assert inner > 0
    data[inner + 300] ^= 0x01
    wacz.write_bytes(bytes(data))
    code, out, _ = run("verify", str(wacz), "--tsa-cert", str(tsa.ca_pem))
    assert code == 1 and out.startswith(f"FAILED  {wacz}: ") and ".warc.gz: SHA-256 is not" in out


def test_a_wacz_signature_fails_when_the_package_list_changes(ws: Workspace, run, tmp_path: Path) -> None:
    """Rewriting datapackage.json and its digest together (a forger's move) breaks the signature."""
    _, path = _store(ws)
    wacz = tmp_path / "c.wacz"
    write_wacz([path], wacz, title="c", pages=[],
               sign=lambda digest, created: sign_hash(signing_key(ws.settings), digest, created))
    _spec_check(wacz)
    assert (ws.settings.data_dir / "keys" / "wacz-signing-p384.pem").stat().st_mode & 0o077 == 0
    forged = tmp_path / "forged.wacz"
    with zipfile.ZipFile(wacz) as source, zipfile.ZipFile(forged, "w") as out:
        digest = json.loads(source.read("datapackage-digest.json"))
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "datapackage.json":
                data = data.replace(b'"title": "c"', b'"title": "d"')
                digest["hash"] = digest["signedData"]["hash"] = "sha256:" + hashlib.sha256(data).hexdigest()
            if item.filename != "datapackage-digest.json":
                out.writestr(item, data)
        out.writestr("datapackage-digest.json", json.dumps(digest))
    code, out, _ = run("verify", str(forged))
    assert code == 1 and "the signature of datapackage.json's hash does not verify" in out
