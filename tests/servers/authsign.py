"""authsign's Verifier (Webrecorder's checker of certificate-signed WACZ) as a verify server on 127.0.0.1.

``authsign_venv(cache_dir)``: a virtualenv with py-wacz and authsign, made once in the pytest cache.
``authsign_verifier(bin_dir, roots)``: authsign's own ``Verifier`` behind ``POST /verify`` (the endpoint
authsign's server has and ``wacz validate --verify-auth --verifier-url`` posts to), trusting the root
certificates given (their SHA-256 fingerprints, as authsign's roots.yaml lists them), run by the venv's Python.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.servers.pywb import _clean_env
from tests.servers.wacz import INSTALL_TIMEOUT, ToolUnavailable, _last_line

REQUIREMENTS = ("wacz>=0.5,<1", "authsign>=0.6,<1")

_SERVER = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from authsign.verifier import Verifier

verifier = Verifier(sys.argv[1])

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            answer, status = verifier(body).model_dump_json().encode(), 200
        except Exception as exc:
            answer, status = json.dumps({"detail": "Not verified: " + str(exc)}).encode(), 400
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def authsign_venv(cache_dir: Path) -> Path:
    """The bin folder of a virtualenv with py-wacz and authsign, made on first use."""
    venv = cache_dir / "authsign-venv"
    marker = venv / ".installed"
    if marker.exists() and marker.read_text().strip() == " ".join(REQUIREMENTS):
        return venv / "bin"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True,
                       timeout=INSTALL_TIMEOUT)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *REQUIREMENTS], check=True, capture_output=True, timeout=INSTALL_TIMEOUT, env=_clean_env())
    except subprocess.TimeoutExpired:
        raise ToolUnavailable(f"pip install {' '.join(REQUIREMENTS)} took over {INSTALL_TIMEOUT:g}s") from None
    except subprocess.CalledProcessError as exc:
        raise ToolUnavailable(f"cannot install {' '.join(REQUIREMENTS)}: {_last_line(exc.stderr)}") from None
    marker.write_text(" ".join(REQUIREMENTS) + "\n")
    return venv / "bin"


@contextmanager
def authsign_verifier(bin_dir: Path, folder: Path, domain_roots: list[x509.Certificate],
                      timestamp_roots: list[x509.Certificate]) -> Iterator[str]:
    """authsign's Verifier trusting these roots, serving POST /verify; yields its URL."""
    roots = folder / "roots.yaml"
    roots.write_text(json.dumps({  # YAML is a superset of JSON
        "domain_cert_roots": [cert.fingerprint(hashes.SHA256()).hex() for cert in domain_roots],
        "timestamp_cert_roots": [cert.fingerprint(hashes.SHA256()).hex() for cert in timestamp_roots]}))
    process = subprocess.Popen([str(bin_dir / "python"), "-c", _SERVER, str(roots)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=_clean_env())
    try:
        port = process.stdout.readline().strip() if process.stdout else ""
        if not port.isdigit():
            raise ToolUnavailable("authsign's verifier did not start")
        yield f"http://127.0.0.1:{port}/verify"
    finally:
        process.terminate()
        process.wait(timeout=10)
