"""bench/recheck.py measures checks of its own server, not refusals: it lets that server through the net guard,
prints no figure when most checks could not connect, and gives its CPU figure as a ratio to a plain GET loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(**extra: str) -> subprocess.CompletedProcess[str]:
    """A small run of the recheck benchmark, with no LASTSEEN_ setting but these from the environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LASTSEEN_")}
    env.update(extra, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "bench" / "recheck.py"), "--sources", "200", "--hosts", "100"],
                          capture_output=True, text=True, env=env, timeout=240)


def test_the_benchmark_checks_its_own_server_and_prints_a_ratio() -> None:
    done = bench()
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[0])
    assert "connection_error" not in result["outcomes"], result["outcomes"]
    assert result["outcomes"]["ok"] >= 190
    assert result["plain_get_cpu_ms"] > 0 and result["cpu_ratio_to_plain_get"] > 0
    assert "ratio" in done.stdout


def test_no_figure_when_the_checks_cannot_connect() -> None:
    done = bench(LASTSEEN_PROXY="http://127.0.0.1:9")  # a proxy nobody listens on: every check fails to connect
    assert done.returncode != 0
    assert "no figure" in done.stderr and "connection_error" in done.stderr
    assert "ms per check" not in done.stdout
