"""The internet, played on 127.0.0.1: an HTTP proxy that answers for any host, HTTPS included.

Set as LASTSEEN_PROXY, it carries everything lastseen sends out, as a TLS-inspecting proxy does: plain http
requests by their absolute URL, https through CONNECT tunnels it opens itself with a certificate for the host
asked, signed by its own test CA (`ca_pem`: what REQUESTS_CA_BUNDLE names for clients that verify TLS).
Each request is answered by the Site playing its host (`hosts`, by path), else by the first handler that
knows the URL (`handlers`: the video providers, their media files), else 404. Requests to 127.0.0.1 (the
webhook receiver) are relayed there.
"""

from __future__ import annotations

import datetime as dt
import http.client
import socketserver
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.servers.site import Page, Site, send_page

# (method, absolute URL, request body) -> the answer, or None when this handler does not know the URL
Handler = Callable[[str, str, bytes], Page | None]
_HOP = {"proxy-connection", "proxy-authorization", "connection", "keep-alive", "host"}


class TestCA:
    """A certificate authority for one test run, and a server certificate per host on demand."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lastseen test CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                  key_encipherment=False, data_encipherment=False,
                                                  key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.pem = folder / "ca.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context(self, host: str) -> ssl.SSLContext:
        """A server TLS context whose certificate names host, signed by this CA."""
        with self._lock:
            if host not in self._contexts:
                self._contexts[host] = self._make(host)
            return self._contexts[host]

    def _make(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        ca_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_file, key_file = self.folder / f"{host}.pem", self.folder / f"{host}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context


class Internet:
    """The proxy: hosts played by Sites, other URLs by handlers; every request seen is kept in `requests`."""

    def __init__(self, folder: Path) -> None:
        self.ca = TestCA(folder)
        self.hosts: dict[str, Site] = {}
        self.handlers: list[Handler] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        internet = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            tunnel = ""  # the host of the CONNECT tunnel this connection became, if it did

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                return

            def do_CONNECT(self) -> None:  # noqa: N802 - stdlib's name
                host = self.path.rsplit(":", 1)[0].strip("[]")
                self.send_response(200, "Connection established")
                self.end_headers()
                try:
                    tls = internet.ca.context(host).wrap_socket(self.connection, server_side=True)
                except (ssl.SSLError, OSError):
                    self.close_connection = True
                    return
                # The rest of this connection is HTTP inside the tunnel: BaseHTTPRequestHandler's loop goes on.
                self.connection = self.request = tls
                self.rfile = tls.makefile("rb", self.rbufsize)
                self.wfile = socketserver._SocketWriter(tls)  # type: ignore[attr-defined]
                self.tunnel = host
                self.close_connection = False  # even after an HTTP/1.0 CONNECT (http.client sends those)

            def do_GET(self) -> None:  # noqa: N802
                internet._serve(self, head=False)

            def do_HEAD(self) -> None:  # noqa: N802
                internet._serve(self, head=True)

            def do_POST(self) -> None:  # noqa: N802
                internet._serve(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Internet:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def asked(self, prefix: str) -> list[str]:
        """The URLs requested so far that start with prefix."""
        with self._lock:
            return [url for _, url in self.requests if url.startswith(prefix)]

    def _serve(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        tunnel = getattr(handler, "tunnel", "")
        url = f"https://{tunnel}{handler.path}" if tunnel else handler.path
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            self.requests.append((handler.command, url))
        parts = urlsplit(url)
        if parts.hostname == "127.0.0.1":
            send_page(handler, _relay(handler, url, body), head)
            return
        site = self.hosts.get(parts.hostname or "")
        if site is not None:
            handler.path = parts.path + (f"?{parts.query}" if parts.query else "")
            site._serve(handler, head)
            return
        for answer in self.handlers:
            page = answer(handler.command, url, body)
            if page is not None:
                send_page(handler, page, head)
                return
        send_page(handler, Page("Not Found", status=404, content_type="text/plain"), head)


def _relay(handler: BaseHTTPRequestHandler, url: str, body: bytes) -> Page:
    """The answer of a server on this machine (the webhook receiver) to the request, passed on."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=30)
    try:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
        connection.request(handler.command, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers)
        answer = connection.getresponse()
        return Page(answer.read(), status=answer.status, content_type=answer.getheader("Content-Type"))
    finally:
        connection.close()
