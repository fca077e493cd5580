"""Bad settings and arguments: one clear line, the documented exit code (2 usage, 3 not found), nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from archive.config import Settings
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_PARTIAL, EXIT_USAGE
from archive.models import Collection
from archive.workspace import Workspace

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err, err
    return err


def test_an_unsupported_database_is_a_setting_error(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LASTSEEN_DATABASE_URL", "mysql://user@127.0.0.1/archive")
    code, _, err = run("list")
    assert code == EXIT_USAGE and "LASTSEEN_DATABASE_URL" in _one_line(err) and "mysql" in err


def test_a_data_folder_that_cannot_be_made_is_a_setting_error(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LASTSEEN_DATA_DIR", "/proc/nope")
    monkeypatch.delenv("LASTSEEN_DATABASE_URL")
    monkeypatch.delenv("LASTSEEN_STORAGE_URL")
    code, _, err = run("list")
    assert code == EXIT_USAGE and "LASTSEEN_DATA_DIR" in _one_line(err)


def test_a_database_in_a_missing_folder_creates_nothing(run, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("LASTSEEN_DATABASE_URL", f"sqlite:///{tmp_path}/nonexistent/dir/lastseen.db")
    code, _, err = run("list")
    assert code == EXIT_USAGE and "nonexistent" in _one_line(err)
    assert not (tmp_path / "nonexistent").exists()


def test_an_export_into_a_missing_folder_creates_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("add", "-c", "flood", "http://127.0.0.1:1/story")[0] == 0
    code, _, err = run("export", "-c", "flood", str(tmp_path / "nonexistent" / "dir" / "x.wacz"))
    assert code == EXIT_USAGE and "does not exist" in _one_line(err)
    assert not (tmp_path / "nonexistent").exists()


def test_a_bad_allow_list_fails_the_config_check(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LASTSEEN_ALLOW_NETWORKS", "bogus")
    code, _, err = run("config", "--check")
    assert code == EXIT_USAGE and "LASTSEEN_ALLOW_NETWORKS" in _one_line(err) and "bogus" in err


def test_an_add_with_every_url_refused_creates_no_collection(run, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("add", "http://exa mple.com/")
    assert code == EXIT_PARTIAL and "white space" in err and "0 added" in out
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            assert list(session.scalars(select(Collection.name))) == []
    finally:
        ws.close()


@pytest.mark.parametrize("command", [["list"], ["export", "x.warc.gz"], ["feed"], ["check"], ["wayback", "status"]])
def test_an_unknown_collection_is_not_found_everywhere(run, command: list[str], tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(*command, "-c", "nosuch")
    assert code == EXIT_NOT_FOUND and "no collection named 'nosuch'" in _one_line(err)
    assert not (tmp_path / "x.warc.gz").exists()
