"""TLS for checks and the Wayback client: certificates verified against REQUESTS_CA_BUNDLE / SSL_CERT_FILE."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from archive.checker import Fetcher
from archive.net.http import ca_bundle, make_session


@pytest.fixture(scope="module")
def https_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for localhost; (base URL, certificate)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - stdlib's name
            body = b"<html><head><title>Secure</title></head><body>ok</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/", cert
    server.shutdown()


def fetch(url: str) -> tuple[int | None, str | None]:
    fetcher = Fetcher(timeout=5, max_bytes=10_000, user_agent="lastseen-test")
    try:
        answer = fetcher.fetch(url)
        return answer.status, answer.error
    finally:
        fetcher.close()


def test_bundle_setting_order(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert ca_bundle() is True
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/ours.pem")
    assert ca_bundle() == "/etc/ssl/ours.pem"
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/curl.pem")
    assert ca_bundle() == "/etc/ssl/curl.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/requests.pem")
    assert ca_bundle() == "/etc/ssl/requests.pem"


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_checks_trust_the_configured_bundle_and_nothing_else(https_site: tuple[str, Path], variable: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert = https_site
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    status, error = fetch(url)
    assert status is None and error == "tls", "a self-signed certificate is refused by default"
    monkeypatch.setenv(variable, str(cert))
    assert fetch(url) == (200, None)
    session = make_session("lastseen-test", proxy="http://127.0.0.1:9")
    assert session.verify == str(cert), "the Wayback client verifies with the bundle even behind a proxy"
