"""TLS for checks and the Wayback client: certificates verified against REQUESTS_CA_BUNDLE / SSL_CERT_FILE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.net.http import ca_bundle, make_session
from archive.watch.fetch import Fetcher
from tests.conftest import TEST_ALLOW_NETWORKS
from tests.servers.site import Page, Site, self_signed_certificate


@pytest.fixture(scope="module")
def https_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for localhost; (base URL, certificate)."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    server = Site(tls=(cert, key)).start()
    server.fallback = Page(b"<html><head><title>Secure</title></head><body>ok</body></html>", content_type="text/html")
    yield server.url("/"), cert
    server.stop()


def fetch(url: str) -> tuple[int | None, str | None]:
    fetcher = Fetcher(timeout=5, max_bytes=10_000, user_agent="lastseen-test", allow_networks=(TEST_ALLOW_NETWORKS,))
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
