"""A real pywb on 127.0.0.1 in record mode, from its own virtualenv (pywb pins old libraries).

``pywb_venv(cache_dir)`` makes the virtualenv once and keeps it in the pytest cache (``.pytest_cache/d/``),
so only the first run pays for ``pip install pywb``. ``PywbServer`` runs ``wayback --live --record`` with
auto-indexing on a free port, frameless (answers carry Memento-Datetime), recording into one collection.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PYWB_REQUIREMENT = "pywb>=2.8,<3"
INSTALL_TIMEOUT = 300.0
START_TIMEOUT = 30.0


class PywbUnavailable(Exception):
    """pywb could not be installed or started; the message says why, in one line."""


def _clean_env() -> dict[str, str]:
    """No proxies: pywb fetches the loopback test site directly."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    return env


def pywb_venv(cache_dir: Path) -> Path:
    """The bin folder of a virtualenv with pywb, made on first use."""
    venv = cache_dir / "pywb-venv"
    marker = venv / ".installed"
    wayback = venv / "bin" / "wayback"
    if marker.exists() and wayback.exists():
        return venv / "bin"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True,
                       timeout=INSTALL_TIMEOUT)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        PYWB_REQUIREMENT], check=True, capture_output=True, timeout=INSTALL_TIMEOUT, env=_clean_env())
    except subprocess.TimeoutExpired:
        raise PywbUnavailable(f"pip install {PYWB_REQUIREMENT} took over {INSTALL_TIMEOUT:g}s") from None
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise PywbUnavailable(f"cannot install {PYWB_REQUIREMENT}: {tail[0]}") from None
    if not wayback.exists():
        raise PywbUnavailable(f"{PYWB_REQUIREMENT} installed no 'wayback' command")
    marker.write_text(PYWB_REQUIREMENT + "\n")
    return venv / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PywbServer:
    """``wayback --live --record`` over a fresh archive folder with one collection."""

    def __init__(self, bin_dir: Path, root: Path, collection: str = "lastseen") -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.collection = collection
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / "pywb.log"

    def start(self) -> None:
        for folder in ("archive", "indexes"):
            (self.root / "collections" / self.collection / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "config.yaml").write_text("recorder: live\nenable_memento: true\nframed_replay: false\n")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.bin_dir / "wayback"), "--live", "--record", "-a", "--auto-interval", "1",
                 "-p", str(self.port), "-b", "127.0.0.1", "-d", str(self.root)],
                cwd=self.root, stdout=log, stderr=subprocess.STDOUT, env=_clean_env())
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PywbUnavailable(f"pywb exited with {self.process.returncode}: {self._log_tail()}")
            try:
                if requests.get(f"{self.base_url}/{self.collection}/cdx?url=example.com", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise PywbUnavailable(f"pywb did not answer within {START_TIMEOUT:g}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        lines = self.log.read_text(errors="replace").strip().splitlines() if self.log.exists() else []
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
