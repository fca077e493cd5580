"""The one way to start a `lastseen` child process: this interpreter, the CLI's entry point, our settings.

A crawl runs Twisted's reactor, which cannot restart inside one process, so the API and the scheduler start
crawls (and checks) as children. `python -c` rather than `-m archive.cli`: running the CLI as __main__ would
load it twice (two UsageError classes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from archive.config import ENV_PREFIX, Settings, settings_environment

LASTSEEN = (sys.executable, "-c", "from archive.cli import run; run()")


def child_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with every setting spelled out, and no stray LASTSEEN_ variables."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    env.update(settings_environment(settings))
    return env


def start_lastseen(settings: Settings, args: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start `lastseen ARGS` in the background with our settings."""
    return subprocess.Popen([*LASTSEEN, *args], env=child_environment(settings), **popen)


def _death_signal() -> Callable[[], object]:
    """What the child runs before exec: Linux kills it when the thread that started it ends (PR_SET_PDEATHSIG).

    The function is looked up here, in the parent: a forked child of a threaded process must not import.
    """
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def run_lastseen(settings: Settings, args: Sequence[str], timeout: float, *,
                 die_with_parent: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `lastseen ARGS` to its end with our settings; its output is captured as text.

    die_with_parent (Linux): the child is killed if this process dies first, so a killed worker's crawl does not
    go on storing captures after its lease has run out and the work was handed to another worker.
    """
    preexec = _death_signal() if die_with_parent and sys.platform.startswith("linux") else None
    return subprocess.run([*LASTSEEN, *args], capture_output=True, text=True, timeout=timeout,
                          env=child_environment(settings), preexec_fn=preexec)
