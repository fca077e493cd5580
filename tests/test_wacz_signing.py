"""WACZ signatures other tools accept: ReplayWeb.page (in Chromium) verifies the anonymous form as ArchiveWeb.page
writes it; py-wacz's `validate --verify-auth`, through authsign's Verifier, accepts the certificate form."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archive.config import Settings
from archive.evidence import package_signer
from archive.export import write_wacz
from tests.conftest import _need
from tests.servers.authsign import authsign_venv, authsign_verifier
from tests.servers.tsa import TsaServer
from tests.servers.wacz import ToolUnavailable, serve_folder
from tests.test_evidence import (
    _store,
    ws,  # noqa: F401 - fixture
)
from tests.test_wacz import _wait_for, browser, replaywebpage, tool_cache  # noqa: F401 - fixtures

VERIFICATIONS = """async () => { const found = {};
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((ok, fail) => { const open = indexedDB.open(info.name);
      open.onsuccess = () => ok(open.result); open.onerror = () => fail(open.error); });
    if (db.objectStoreNames.contains("verification")) {
      const rows = await new Promise((ok) => { const get = db.transaction("verification").objectStore(
        "verification").getAll(); get.onsuccess = () => ok(get.result); });
      for (const row of rows) found[row.id] = {expected: row.expected, matched: row.matched}; }
    db.close(); }
  return found; }"""


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[TsaServer]:
    server = TsaServer(tmp_path / "tsa")
    yield server
    server.close()


def _replayed_verification(chromium: Any, base: str, name: str) -> dict[str, Any]:
    """ReplayWeb.page opens the WACZ; what its own signature check stored (IndexedDB `verification`)."""
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/?source={quote(f'{base}/{name}', safe='')}#view=pages")

        def checked() -> dict[str, Any] | None:
            rows = page.evaluate(VERIFICATIONS)
            return rows if any(key.endswith("signature") for key in rows) else None

        return _wait_for(checked, f"its signature check of {name}", timeout=60)
    finally:
        context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_replaywebpage_verifies_the_anonymous_signature(settings: Settings, ws, replaywebpage: Path,  # noqa: F811
                                                         browser: Any, tmp_path: Path) -> None:  # noqa: F811
    _, warc = _store(ws)
    web = tmp_path / "web"
    web.mkdir()
    for name in ("index.html", "ui.js", "sw.js"):
        (web / name).write_bytes((replaywebpage / name).read_bytes())
    signer = package_signer(settings)
    write_wacz([warc], web / "good.wacz", title="good", sign=signer.sign)
    forged = lambda digest, created: {**signer.sign("sha256:" + "0" * 64, created), "hash": digest}  # noqa: E731
    write_wacz([warc], web / "forged.wacz", title="forged", sign=forged)
    with zipfile.ZipFile(web / "good.wacz") as package:
        public_key = json.loads(package.read("datapackage-digest.json"))["signedData"]["publicKey"]
    with serve_folder(web) as base:
        good = _replayed_verification(browser, base, "good.wacz")
        forged_rows = _replayed_verification(browser, base, "forged.wacz")
    signature = next(row for key, row in good.items() if key.endswith("signature"))
    assert signature["matched"] is True, good
    assert any(key.endswith("publicKey") and row["expected"] == public_key for key, row in good.items()), good
    assert next(row for key, row in forged_rows.items() if key.endswith("signature"))["matched"] is False


def _domain_pki(folder: Path, domain: str) -> tuple[Path, Path, x509.Certificate]:
    """A CA and a certificate for domain issued an hour ago (short-lived, as authsign's are); the chain file
    (leaf first), the leaf's key file and the CA certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lastseen test domain CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
          .not_valid_after(now + timedelta(days=30)).add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                                                   critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=6))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain, key_file = folder / "chain.pem", folder / "key.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return chain, key_file, ca


@pytest.fixture(scope="module")
def authsign_bin(tool_cache: Path) -> Path:  # noqa: F811
    try:
        return authsign_venv(tool_cache)
    except ToolUnavailable as exc:
        _need(f"py-wacz and authsign cannot be installed here: {exc}")
        raise


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pywacz_and_authsign_accept_the_certificate_form(run, ws, tsa: TsaServer, authsign_bin: Path,  # noqa: F811
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _store(ws)
    chain, key_file, ca = _domain_pki(tmp_path / "domain", "archive.example")
    for name, value in (("LASTSEEN_WACZ_SIGNING_CERT", chain), ("LASTSEEN_WACZ_SIGNING_CERT_KEY", key_file),
                        ("LASTSEEN_TSA_URLS", tsa.url), ("LASTSEEN_TSA_CERTS", tsa.ca_pem)):
        monkeypatch.setenv(name, str(value))
    out = tmp_path / "out" / "c.wacz"
    code, printed, err = run("export", "-c", "c", str(out))
    assert code == 0, err
    with zipfile.ZipFile(out) as package:
        signed = json.loads(package.read("datapackage-digest.json"))["signedData"]
    assert signed["domain"] == "archive.example" and "publicKey" not in signed and signed["timeSignature"]
    code, printed, err = run("verify", str(out), "--tsa-cert", str(tsa.ca_pem))
    assert code == 0 and "signed by" in printed, printed + err

    tsa_ca = x509.load_pem_x509_certificate(Path(tsa.ca_pem).read_bytes())
    wacz = str(authsign_bin / "wacz")
    with authsign_verifier(authsign_bin, tmp_path, [ca], [tsa_ca]) as url:
        checked = subprocess.run([wacz, "validate", "-f", str(out), "--verify-auth", "--verifier-url", url],
                                 capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0 and "Successfully verified signature" in checked.stdout, checked.stdout
    other = _domain_pki(tmp_path / "other", "archive.example")[2]
    with authsign_verifier(authsign_bin, tmp_path, [other], [tsa_ca]) as url:
        refused = subprocess.run([wacz, "validate", "-f", str(out), "--verify-auth", "--verifier-url", url],
                                 capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "Signature not verified" in refused.stdout, "another CA is not trusted"


def test_settings_for_the_certificate_form_come_in_pairs(settings: Settings) -> None:
    from archive.evidence import SigningError

    with pytest.raises(SigningError, match="set both"):
        package_signer(dataclasses.replace(settings, wacz_signing_cert="/nowhere.pem"))
