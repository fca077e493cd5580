"""The WACZ tools the export is checked against, each installed in its own place and kept in the pytest cache.

``pywacz_venv(cache_dir)``: a virtualenv with py-wacz (``wacz validate``), made once in ``.pytest_cache/d/``.
``replaywebpage_dir(cache_dir)``: the ``replaywebpage`` npm package (the app's index.html, ui.js, sw.js).
``serve_folder(folder)``: an HTTP server on 127.0.0.1 for a folder, as a static web host serves it (ranges too).
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.servers.pywb import _clean_env

PYWACZ_REQUIREMENT = "wacz>=0.5,<1"
REPLAYWEBPAGE_PACKAGE = "replaywebpage@2"
INSTALL_TIMEOUT = 300.0


class ToolUnavailable(Exception):
    """A tool could not be installed; the message says why, in one line."""


def _last_line(output: bytes | str | None) -> str:
    text = output.decode(errors="replace") if isinstance(output, bytes) else (output or "")
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"


def pywacz_venv(cache_dir: Path) -> Path:
    """The bin folder of a virtualenv with py-wacz, made on first use."""
    venv = cache_dir / "wacz-venv"
    marker = venv / ".installed"
    wacz = venv / "bin" / "wacz"
    if marker.exists() and marker.read_text().strip() == PYWACZ_REQUIREMENT and wacz.exists():
        return venv / "bin"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True,
                       timeout=INSTALL_TIMEOUT)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        PYWACZ_REQUIREMENT], check=True, capture_output=True, timeout=INSTALL_TIMEOUT,
                       env=_clean_env())
    except subprocess.TimeoutExpired:
        raise ToolUnavailable(f"pip install {PYWACZ_REQUIREMENT} took over {INSTALL_TIMEOUT:g}s") from None
    except subprocess.CalledProcessError as exc:
        raise ToolUnavailable(f"cannot install {PYWACZ_REQUIREMENT}: {_last_line(exc.stderr)}") from None
    if not wacz.exists():
        raise ToolUnavailable(f"{PYWACZ_REQUIREMENT} installed no 'wacz' command")
    marker.write_text(PYWACZ_REQUIREMENT + "\n")
    return venv / "bin"


def replaywebpage_dir(cache_dir: Path) -> Path:
    """The files of the replaywebpage npm package (index.html, ui.js, sw.js), fetched on first use.

    `npm pack`, not `npm install`: the package ships built bundles, and its build dependencies need not
    resolve (some pinned ones are missing from registry mirrors)."""
    root = cache_dir / "replaywebpage"
    marker = root / ".installed"
    package = root / "package"
    if marker.exists() and marker.read_text().strip() == REPLAYWEBPAGE_PACKAGE and (package / "sw.js").exists():
        return package
    npm = shutil.which("npm")
    if npm is None:
        raise ToolUnavailable("npm is not installed")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        packed = subprocess.run([npm, "pack", "--silent", REPLAYWEBPAGE_PACKAGE], cwd=root, check=True,
                                capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=_clean_env())
    except subprocess.TimeoutExpired:
        raise ToolUnavailable(f"npm pack {REPLAYWEBPAGE_PACKAGE} took over {INSTALL_TIMEOUT:g}s") from None
    except subprocess.CalledProcessError as exc:
        raise ToolUnavailable(f"cannot fetch {REPLAYWEBPAGE_PACKAGE}: {_last_line(exc.stderr)}") from None
    with tarfile.open(root / packed.stdout.strip().splitlines()[-1]) as tarball:
        tarball.extractall(root, filter="data")
    if not all((package / name).exists() for name in ("index.html", "ui.js", "sw.js")):
        raise ToolUnavailable(f"{REPLAYWEBPAGE_PACKAGE} has no index.html, ui.js and sw.js")
    marker.write_text(REPLAYWEBPAGE_PACKAGE + "\n")
    return package


class _StaticHandler(SimpleHTTPRequestHandler):
    """Files as a static web host serves them, with single byte ranges (ReplayWeb.page reads a WACZ by ranges)."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "application/javascript",
                      ".wacz": "application/wacz+zip"}

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        return

    def send_head(self):  # type: ignore[no-untyped-def]
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        path = Path(self.translate_path(self.path))
        if not wanted or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        first, last = wanted.groups()
        start = int(first) if first else max(0, size - int(last or 0))
        end = min(int(last), size - 1) if first and last else size - 1
        if start > end or start >= size:
            self.send_error(416)
            return None
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(data)


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve a folder over HTTP on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_StaticHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
