"""A real RFC 3161 timestamp authority on 127.0.0.1: OpenSSL's `openssl ts -reply` behind a small HTTP server.

The test makes its own PKI in a folder: a CA, and a TSA certificate it issues with the critical
extendedKeyUsage timeStamping that RFC 3161 requires. `mode` scripts the answers: "ok" (a real token),
"error" (HTTP 500) or "garbage" (HTTP 200 with bytes that are no TimeStampResp).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {folder}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1
other_policies = 1.3.6.1.4.1.55555.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256

[ tsa_cert ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(folder: Path) -> None:
    """ca.pem/ca.key, tsa.pem/tsa.key (issued by the CA, timeStamping only) and the `openssl ts` config."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tsa.cnf").write_text(_CONFIG.format(folder=folder))
    (folder / "serial").write_text("01\n")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/CN=lastseen test CA", cwd=folder)
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
             "-subj", "/CN=lastseen test TSA", cwd=folder)
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "tsa.pem", "-days", "30", "-extfile", "tsa.cnf", "-extensions", "tsa_cert", cwd=folder)


class TsaServer:
    """A timestamp authority answering POSTs of application/timestamp-query with `openssl ts -reply`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        make_pki(folder)
        self.mode = "ok"
        self.requests = 0
        self._lock = threading.Lock()
        tsa = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                return

            def do_POST(self) -> None:  # noqa: N802 - stdlib's name
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, body = tsa.answer(query)
                self.send_response(status)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/tsr"

    @property
    def ca_pem(self) -> Path:
        """The CA certificate tokens chain to (what `openssl ts -verify -CAfile` and --tsa-cert take)."""
        return self.folder / "ca.pem"

    def answer(self, query: bytes) -> tuple[int, bytes]:
        """The HTTP status and body for one query, as `mode` says (one reply at a time: the serial file)."""
        with self._lock:
            self.requests += 1
            if self.mode == "error":
                return 500, b"internal error"
            if self.mode == "garbage":
                return 200, b"this is not a timestamp response"
            with tempfile.TemporaryDirectory(dir=self.folder) as tmp:
                (Path(tmp) / "query.tsq").write_bytes(query)
                result = subprocess.run(["openssl", "ts", "-reply", "-config", str(self.folder / "tsa.cnf"),
                                         "-queryfile", "query.tsq", "-out", "reply.tsr"],
                                        cwd=tmp, capture_output=True, timeout=60)
                if result.returncode != 0:
                    return 500, result.stderr
                return 200, (Path(tmp) / "reply.tsr").read_bytes()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
