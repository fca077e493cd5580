"""The WACZ tools the export is checked against, each installed in its own place and kept in the pytest cache.

``pywacz_venv(cache_dir)``: a virtualenv with py-wacz (``wacz validate``), made once in ``.pytest_cache/d/``.
``replaywebpage_dir(cache_dir)``: the ``replaywebpage`` npm package (ui.js and sw.js), installed once by npm.
``serve_folder(folder)``: a plain HTTP server on 127.0.0.1 for a folder, as a static web host would serve it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
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
    """The folder of the replaywebpage npm package (ui.js, sw.js), installed on first use."""
    root = cache_dir / "replaywebpage"
    marker = root / ".installed"
    package = root / "node_modules" / "replaywebpage"
    if marker.exists() and marker.read_text().strip() == REPLAYWEBPAGE_PACKAGE and (package / "ui.js").exists():
        return package
    npm = shutil.which("npm")
    if npm is None:
        raise ToolUnavailable("npm is not installed")
    root.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(root),
                        REPLAYWEBPAGE_PACKAGE], check=True, capture_output=True, timeout=INSTALL_TIMEOUT,
                       env=_clean_env())
    except subprocess.TimeoutExpired:
        raise ToolUnavailable(f"npm install {REPLAYWEBPAGE_PACKAGE} took over {INSTALL_TIMEOUT:g}s") from None
    except subprocess.CalledProcessError as exc:
        raise ToolUnavailable(f"cannot install {REPLAYWEBPAGE_PACKAGE}: {_last_line(exc.stderr)}") from None
    if not (package / "ui.js").exists() or not (package / "sw.js").exists():
        raise ToolUnavailable(f"{REPLAYWEBPAGE_PACKAGE} has no ui.js and sw.js")
    marker.write_text(REPLAYWEBPAGE_PACKAGE + "\n")
    return package


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        return


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve a folder over HTTP on 127.0.0.1 (ranges are not needed: ReplayWeb.page falls back to whole reads);
    yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
