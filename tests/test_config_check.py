"""`lastseen config --check` connects to each configured part and says in one line each whether it works; one
that does not (a closed port, a webhook the net guard refuses) fails the check, naming the setting to change."""

from __future__ import annotations

import re

import pytest

from archive.errors import EXIT_OK, EXIT_USAGE
from tests.servers.receiver import Receiver
from tests.servers.silent import free_port

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _lines(out: str) -> dict[str, str]:
    """part -> its check line (the lines after the settings)."""
    found = {}
    for line in out.splitlines():
        match = re.match(r"(database|storage|broker|redis|tsa|webhook|apprise|chromium|deno)\s+(ok|FAILED|-)\s", line)
        if match:
            found[match.group(1)] = line
    return found


def test_each_part_says_it_works(run, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LASTSEEN_WEBHOOK_URL", receiver.url())
    monkeypatch.setenv("LASTSEEN_SCREENSHOTS", "no")
    code, out, err = run("config", "--check")
    lines = _lines(out)
    assert code == EXIT_OK and err == "", err
    for part in ("database", "storage", "webhook"):
        assert re.match(rf"{part}\s+ok\s", lines[part]), lines
    assert re.match(r"broker\s+-\s+not set", lines["broker"]) and re.match(r"chromium\s+-\s", lines["chromium"])
    assert "deno" in lines


def test_a_webhook_the_net_guard_refuses_says_so_and_names_the_setting(run, receiver: Receiver,  # type: ignore[no-untyped-def]
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTSEEN_WEBHOOK_URL", receiver.url())
    monkeypatch.setenv("LASTSEEN_ALLOW_NETWORKS", "")
    code, out, err = run("config", "--check")
    line = _lines(out)["webhook"]
    assert code == EXIT_USAGE and "webhook" in err and err.count("\n") == 1
    assert "FAILED" in line and "refused by the net guard" in line and "LASTSEEN_ALLOW_NETWORKS" in line
    port = receiver.url().split(":")[2].split("/")[0]
    assert f"127.0.0.1/32:{port}" in line, "says exactly what to allow"


def test_closed_ports_fail_the_check(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LASTSEEN_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    monkeypatch.setenv("LASTSEEN_BROKER_URL", f"amqp://guest:guest@127.0.0.1:{free_port()}//")
    monkeypatch.setenv("LASTSEEN_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    code, out, err = run("config", "--check")
    lines = _lines(out)
    assert code == EXIT_USAGE and "broker, redis, webhook" in err, err
    assert "cannot connect" in lines["webhook"] and "FAILED" in lines["broker"] and "FAILED" in lines["redis"]
    assert "guest:***@" in lines["broker"], "the password is masked"
