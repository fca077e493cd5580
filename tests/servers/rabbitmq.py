"""A private RabbitMQ node for one test: its own name, ports, data and logs, so the test may restart it while
other tests use the machine's broker on 5672."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SBIN = Path("/usr/lib/rabbitmq/bin")  # Debian's scripts that run as the caller (/usr/sbin's `su rabbitmq`)


def rabbitmq_sbin() -> Path | None:
    """The folder of rabbitmq-server and rabbitmqctl this user can run directly, if any."""
    for folder in (SBIN, Path(shutil.which("rabbitmq-server") or "/nonexistent").parent):
        if os.access(folder / "rabbitmq-server", os.X_OK) and os.access(folder / "rabbitmqctl", os.X_OK):
            return folder
    return None


def free_port() -> int:
    """A TCP port nobody listens on now, below the range RabbitMQ's CLI tools take (35672-35682)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not 35600 <= port <= 35700 and port < 65535 - 10:
            return port


class PrivateRabbit:
    """`rabbitmq-server` on free ports under `folder`; start, stop (the whole node) and start again."""

    def __init__(self, folder: Path, sbin: Path) -> None:
        self.folder = folder
        self.sbin = sbin
        self.port = free_port()
        self.node = f"lastseen{self.port}@localhost"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "enabled_plugins").write_text("[].\n")
        self.env = {**os.environ, "HOME": str(folder), "RABBITMQ_NODENAME": self.node,
                    "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(self.port),
                    "RABBITMQ_DIST_PORT": str(free_port()), "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(folder / "log"), "RABBITMQ_PID_FILE": str(folder / "pid"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
                    "RABBITMQ_PLUGINS_EXPAND_DIR": str(folder / "plugins"),
                    "RABBITMQ_CONFIG_FILE": str(folder / "none")}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _ctl(self, *args: str, timeout: float = 120) -> None:
        subprocess.run([str(self.sbin / "rabbitmqctl"), "-q", "-n", self.node, *args], env=self.env,
                       check=True, capture_output=True, timeout=timeout)

    def start(self) -> PrivateRabbit:
        """Start the node and wait until it takes connections."""
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen([str(self.sbin / "rabbitmq-server")], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:  # await_startup fails at once until the node has registered its name
            try:
                self._ctl("await_startup", "--timeout", "60")
                return self
            except subprocess.CalledProcessError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        """Stop the whole node (its Erlang VM ends: every connection drops)."""
        if self.process is None:
            return
        try:
            self._ctl("stop", timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.process.kill()
        self.process.wait(timeout=60)
        self.process = None

    def restart(self) -> None:
        """Stop the node and start it again on the same port and data (durable queues keep their messages)."""
        self.stop()
        self.start()
