"""The bookkeeping half of the CLI on SQLite and PostgreSQL: add, import, list, status, collections, config."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from archive.config import Settings


def test_add_normalizes_dedupes_and_refuses(run) -> None:
    code, out, err = run("add", "https://Example.com/story?utm_source=x#c", "ftp://example.com/f", "notaurl",
                         "https://example.com/other", "--tag", "war", "--tag", "ua", "--every", "12h")
    assert code == 1, "refusals make the exit code 1 while the rest goes in"
    assert "2 added, 0 already known, 2 refused" in out
    assert "only http and https" in err and "ftp" in err
    code, out, _ = run("add", "https://example.com/story", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["added"] == [] and data["known"][0]["normalized_url"] == "https://example.com/story"
    code, out, _ = run("add", "https://example.com/story", "-c", "other")
    assert code == 0 and "1 added" in out, "the same URL may be tracked in another collection"
    code, out, _ = run("list", "--json")
    rows = json.loads(out)
    assert [(r["collection"], r["normalized_url"]) for r in rows] == [
        ("default", "https://example.com/story"), ("default", "https://example.com/other"),
        ("other", "https://example.com/story")]
    assert rows[0]["tags"] == ["ua", "war"] and rows[0]["status"] == "new" and rows[0]["kind"] == "page"
    assert rows[0]["added_at"].endswith("Z")


def test_import_every_format(run, tmp_path: Path) -> None:
    text = tmp_path / "urls.txt"
    text.write_text("# seeds\nhttps://a.example/1\n\nhttps://a.example/2\nmailto:x@y\nhttps://a.example/1\n")
    code, out, err = run("import", str(text), "-c", "seeds")
    assert code == 1 and "2 added, 1 already known, 1 refused from text" in out
    assert "line 5:" in err
    table = tmp_path / "urls.csv"
    table.write_text("url;region;tags\nhttps://b.example/x;kyiv;war|video\n;;\nbad url;x;\n", encoding="utf-8")
    code, out, err = run("import", str(table), "-c", "seeds", "--json")
    data = json.loads(out)
    assert data["format"] == "csv" and data["added"] == ["https://b.example/x"]
    assert data["refused"][0]["line"] == 4
    rss = tmp_path / "feed.xml"
    rss.write_text("<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
                   "<item><link>https://c.example/n1</link></item>\n<item><guid>https://c.example/n2</guid></item>"
                   "</channel></rss>")
    assert "2 added" in run("import", str(rss), "-c", "seeds")[1]
    atom = tmp_path / "atom.xml"
    atom.write_text("<feed xmlns='http://www.w3.org/2005/Atom'><entry><link rel='alternate' "
                    "href='https://d.example/e1'/><link rel='enclosure' href='https://d.example/e1.mp3'/></entry></feed>")
    assert "1 added" in run("import", str(atom), "-c", "seeds")[1]
    sitemap = tmp_path / "sitemap.xml"
    sitemap.write_text("<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                       "<url><loc>https://e.example/a</loc></url><url><loc> https://e.example/b </loc></url></urlset>")
    assert "2 added" in run("import", str(sitemap), "-c", "seeds")[1]
    code, out, _ = run("list", "-c", "seeds", "--tag", "region:kyiv", "--json")
    assert [r["normalized_url"] for r in json.loads(out)] == ["https://b.example/x"]
    assert json.loads(out)[0]["tags"] == ["region:kyiv", "video", "war"]
    assert len(json.loads(run("list", "-c", "seeds", "--json")[1])) == 8


@pytest.mark.parametrize("content, message", [
    (b"<html><body>hi</body></html>", "neither a sitemap nor an RSS/Atom feed"),
    (b"<urlset><url><loc>x</loc>", "not well-formed XML"),
    (b"\x00\x01\x02binary", "binary file"),
    (b"<sitemapindex><sitemap><loc>https://x/s.xml</loc></sitemap></sitemapindex>", "sitemap index"),
])
def test_import_bad_files(run, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "in.dat"
    path.write_bytes(content)
    code, out, err = run("import", str(path))
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_import_missing_file(run) -> None:
    code, _, err = run("import", "/nonexistent/urls.txt")
    assert code == 2 and "no such file" in err


def test_status_and_collections(run) -> None:
    run("add", "https://news.example/a", "-c", "ru", "--tag", "t")
    code, out, _ = run("status", "https://NEWS.example/a?utm_source=z", "--json")
    data = json.loads(out)
    assert code == 0 and data["query"] == "https://NEWS.example/a?utm_source=z"
    (source,) = data["sources"]
    assert source["collection"] == "ru" and source["status"] == "new"
    for key in ("captures", "checks", "transitions", "videos", "video", "found_on", "wayback", "last_seen_alive_at",
                "first_seen_at", "vanished_at", "reason"):
        assert key in source
    assert source["wayback"] == {"submissions": [], "lookup": None, "recovery": None}
    code, out, _ = run("status", "https://news.example/a")
    assert code == 0 and "status            new" in out and "tags              t" in out
    code, out, err = run("status", "https://news.example/never")
    assert code == 3 and "not tracked" in err
    code, out, _ = run("collections", "--json")
    (ru,) = json.loads(out)
    assert ru["name"] == "ru" and ru["sources"] == 1 and ru["by_status"]["new"] == 1


def test_list_filters_and_csv(run) -> None:
    run("add", "https://v.example/watch?v=1", "--kind", "video")
    run("add", "https://p.example/1", "https://p.example/2")
    code, out, _ = run("list", "--kind", "video", "--json")
    assert [r["normalized_url"] for r in json.loads(out)] == ["https://v.example/watch?v=1"]
    code, out, _ = run("list", "--status", "vanished", "--json")
    assert json.loads(out) == []
    code, out, _ = run("list", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["normalized_url"] for r in rows] == ["https://v.example/watch?v=1", "https://p.example/1",
                                                   "https://p.example/2"]
    run("collection", "empty")
    code, out, _ = run("list", "-c", "empty", "--csv")
    assert code == 0 and out.splitlines() == [out.splitlines()[0]] and out.startswith("id,url,normalized_url")
    assert run("list", "-c", "nosuch", "--csv")[0] == 3, "a collection that does not exist is not found"


def test_config_shows_and_checks(run, settings: Settings) -> None:
    code, out, _ = run("config", "--json", "--check")
    data = json.loads(out)
    assert code == 0
    assert data["database_url"] == settings.database_url and data["storage_url"] == settings.storage_url
    assert data["data_dir"] == str(settings.data_dir)
    assert set(data) >= {"data_dir", "database_url", "storage_url", "s3_endpoint_url", "wayback_url"}


def _script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    lastseen = Path(sys.executable).with_name("lastseen")
    return subprocess.run([str(lastseen), *args], capture_output=True, text=True, env=env, timeout=120)


def test_console_script_errors_are_one_line(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin:/bin", "LASTSEEN_DATA_DIR": str(tmp_path / "d")}
    result = _script("list", env={**base, "LASTSEEN_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 2 and result.stderr.startswith("lastseen: error: cannot connect to the database")
    assert result.stderr.count("\n") == 1
    result = _script("config", "--check", env={**base, "LASTSEEN_STORAGE_URL": "s3://nobucket",
                                               "LASTSEEN_S3_ENDPOINT_URL": "http://127.0.0.1:1",
                                               "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    assert result.returncode == 2 and "lastseen: error:" in result.stderr and "Traceback" not in result.stderr
    result = _script("add", "https://ok.example/", "--every", "sometime", env=base)
    assert result.returncode == 2 and "not a duration" in result.stderr
    result = _script("add", "https://ok.example/", env=base)
    assert result.returncode == 0 and "1 added" in result.stdout


def test_collection_settings(run) -> None:
    code, out, _ = run("collection", "ru", "--robots", "ignore", "--every", "6h", "--alert-on-changed", "yes",
                       "--public", "yes", "--description", "Russian-language news", "--json")
    data = json.loads(out)
    assert code == 0 and data == {"name": "ru", "description": "Russian-language news", "recheck_interval": 21600,
                                  "obey_robots": False, "alert_on_changed": True, "public_read": True,
                                  "proxy": None, "cookies_file": None, "screenshots": True, "media": True,
                                  "regions": [], "wayback": True, "capture": "auto", "paused": None, "deleted": None}
    code, out, _ = run("collection", "ru", "--robots", "obey", "--screenshots", "no", "--json")
    assert json.loads(out)["obey_robots"] is True and json.loads(out)["recheck_interval"] == 21600
    assert json.loads(out)["screenshots"] is False
    code, out, _ = run("collections", "--json")
    assert json.loads(out)[0]["recheck_interval"] == 21600
    with pytest.raises(SystemExit) as exit_info:
        run("collection", "ru", "--robots", "maybe")
    assert exit_info.value.code == 2
    code, _, err = run("collection", "ru", "--every", "soon")
    assert code == 2 and err.strip().splitlines()[-1].startswith("lastseen: error: not a duration")
    code, out, _ = run("collection", "ru", "--regions", "default, KZ")
    assert code == 0 and "regions            default,kz" in out
    code, _, err = run("collection", "ru", "--regions", "kz,check.ru")
    assert code == 2 and "--regions" in err
    code, out, _ = run("collection", "ru", "--regions", "", "--json")
    assert json.loads(out)["regions"] == []
    code, out, _ = run("collection", "ru", "--capture", "browser", "--json")
    assert code == 0 and json.loads(out)["capture"] == "browser"
    with pytest.raises(SystemExit) as exit_info:
        run("collection", "ru", "--capture", "psychic")
    assert exit_info.value.code == 2


def test_collection_proxy_and_cookies_for_ytdlp(run, tmp_path) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    code, out, _ = run("collection", "ru", "--proxy", "socks5://me:secret@127.0.0.1:1080", "--cookies", str(cookies),
                       "--json")
    data = json.loads(out)
    assert code == 0 and data["proxy"] == "socks5://me:***@127.0.0.1:1080", "the password is never shown"
    assert data["cookies_file"] == str(cookies)
    code, _, err = run("collection", "ru", "--cookies", str(tmp_path / "missing.txt"))
    assert code == 2 and err.count("\n") == 1 and "is not a readable file" in err
    code, out, _ = run("collection", "ru", "--proxy", "", "--cookies", "", "--json")
    assert json.loads(out)["proxy"] is None and json.loads(out)["cookies_file"] is None


@pytest.mark.parametrize("every, ok", [("99999999d", False), ("99999999999999999999d", False), ("30000d", False),
                                       ("30s", False), ("1m", True), ("3650d", True)])
def test_recheck_intervals_are_bounded(run, every: str, ok: bool) -> None:
    code, out, err = run("add", "https://example.com/a", "--every", every)
    if ok:
        assert code == 0 and "1 added" in out
    else:
        assert code == 2 and "recheck interval" in err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert run("list", "--json")[1].strip() == "[]", "nothing is added with a refused interval"
    code, _, err = run("collection", "c", "--every", every)
    assert code == (0 if ok else 2)


def test_import_refuses_bad_lines_one_by_one(run, tmp_path: Path) -> None:
    """On PostgreSQL a NUL, an overlong tag or host used to fail the whole import; now each is refused alone."""
    text = tmp_path / "urls.txt"
    text.write_bytes(b"".join(f"https://a.example/{n}\n".encode() for n in range(300))
                     + b"https://a.example/n\x00ul\n" + b"https://" + b"h" * 300 + b".example/\n"
                     + b"https://a.example/" + b"p" * 9000 + b"\n" + b"https://a.example/last\n")
    code, out, err = run("import", str(text), "-c", "bulk", "--json")
    data = json.loads(out)
    assert code == 1 and len(data["added"]) == 301 and data["added"][-1] == "https://a.example/last"
    assert [r["line"] for r in data["refused"]] == [301, 302, 303]
    assert "control characters" in data["refused"][0]["reason"]
    assert "host is longer" in data["refused"][1]["reason"] and "longer than 8000" in data["refused"][2]["reason"]
    table = tmp_path / "urls.csv"
    table.write_text("url,region\nhttps://b.example/1,kyiv\nhttps://b.example/2," + "r" * 250 + "\n"
                     + "https://b.example/3," + "x" * 200_000 + "\nhttps://b.example/4,lviv\n", encoding="utf-8")
    code, out, err = run("import", str(table), "-c", "bulk", "--json")
    data = json.loads(out)
    assert code == 1 and data["added"] == ["https://b.example/1", "https://b.example/4"]
    assert [r["line"] for r in data["refused"]] == [3, 4]
    assert "longer than 200" in data["refused"][0]["reason"] and "CSV" in data["refused"][1]["reason"]


def test_csv_cells_that_would_run_as_formulas_are_quoted(run) -> None:
    assert run("add", "https://example.com/x", "--tag", "=cmd|' /C calc'!A0")[0] == 0
    code, out, _ = run("list", "--csv")
    row = next(csv.DictReader(io.StringIO(out)))
    assert code == 0 and row["tags"] == "'=cmd|' /C calc'!A0" and row["url"] == "https://example.com/x"


@pytest.mark.parametrize("name", ["a/b", "../x", "%2e", "=sum(1)", "x" * 201, "tab\there"])
def test_collection_names_are_checked_on_creation(run, name: str) -> None:
    code, _, err = run("add", "https://example.com/x", "-c", name)
    assert code == 2 and "collection name" in err and err.count("\n") == 1


def test_a_feed_with_a_bare_ampersand_keeps_every_link(run, tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text("<?xml version='1.0'?><rss version='2.0'><channel><title>News & views</title>"
                    "<item><title>Tom & Jerry</title><link>https://c.example/n1</link></item>"
                    "<item><guid>https://c.example/n2</guid></item></channel></rss>")
    code, out, err = run("import", str(feed), "-c", "feeds", "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == ["https://c.example/n1", "https://c.example/n2"]


def test_import_streams_a_large_sitemap(run, tmp_path: Path) -> None:
    sitemap = tmp_path / "sitemap.xml"
    with sitemap.open("w") as f:
        f.write("<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>")
        f.writelines(f"<url><loc>https://e.example/{n}</loc></url>\n" for n in range(3000))
        f.write("</urlset>")
    code, out, _ = run("import", str(sitemap), "-c", "big")
    assert code == 0 and "3000 added, 0 already known, 0 refused from sitemap" in out
    code, out, _ = run("import", str(sitemap), "-c", "big", "--json")
    data = json.loads(out)
    assert code == 0 and data["added"] == [] and len(data["known"]) == 3000
    assert data["known"][-1] == {"url": "https://e.example/2999", "line": 3000, "normalized_url": "https://e.example/2999"}


@pytest.mark.parametrize("before", [True, False])
def test_global_options_anywhere_on_the_line(run, tmp_path: Path, before: bool) -> None:
    """--json and --config before the command used to be ignored (a missing config file then exited 0)."""
    assert run("add", "https://example.com/a")[0] == 0
    args = ["--json", "list"] if before else ["list", "--json"]
    code, out, _ = run(*args)
    assert code == 0 and json.loads(out)[0]["normalized_url"] == "https://example.com/a"
    missing = str(tmp_path / "missing.toml")
    args = ["--config", missing, "list"] if before else ["list", "--config", missing]
    code, out, err = run(*args)
    assert code == 2 and "config file not found" in err and out == ""


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_refuses_a_port_out_of_range(run, port: str) -> None:
    code, _, err = run("serve", "--port", port)
    assert code == 2 and f"cannot listen on port {port}" in err and err.count("\n") == 1


@pytest.mark.parametrize("name", ["out.warc.gz", "out.wacz"])
def test_export_to_an_unwritable_place_is_a_usage_error(run, tmp_path: Path, name: str) -> None:
    """It exited 70 (internal error) with a traceback's last line."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert run("collection", "default")[0] == 0
    code, _, err = run("export", str(blocker / name))
    assert code == 2 and err.startswith("lastseen: error: cannot write") and err.count("\n") == 1


@pytest.mark.parametrize("args, env, says", [
    (("add", "https://example.com/a", "--every", "30s"), {}, "a recheck interval must be between"),
    (("add", "https://example.com/a", "-c", "a/b"), {}, "collection name 'a/b' may hold"),
    (("status", "ftp://example.com/a"), {}, "only http and https URLs can be tracked"),
    (("token", "create", " "), {}, "token name must not be empty"),
    (("check", "--all"), {"LASTSEEN_CONFIRM_CHECKS": "0"}, "confirm_checks and transient_checks must be at least 1"),
    (("check", "--all"), {"LASTSEEN_ALLOW_NETWORKS": "nonsense"}, "LASTSEEN_ALLOW_NETWORKS: not an IP network"),
])
def test_bad_input_and_settings_are_usage_errors(run, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...],
                                                 env: dict[str, str], says: str) -> None:
    assert run("add", "https://example.com/seed")[0] == 0
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(*args)
    assert (code, err.count("\n")) == (2, 1) and err.startswith("lastseen: error: ") and says in err, err


def test_a_value_error_that_is_a_bug_is_an_internal_error(run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only UsageError (and the settings, database and storage errors) mean bad usage; a stray ValueError is ours."""
    import archive.cli.sources

    def broken(*_: object) -> int:
        raise ValueError("invalid literal for int() with base 10: 'x'")

    monkeypatch.setattr(archive.cli.sources, "cmd_list", broken)
    monkeypatch.delenv("LASTSEEN_DEBUG", raising=False)
    code, out, err = run("list")
    assert (code, out) == (70, "") and err == ("lastseen: internal error: ValueError: invalid literal for int() with "
                                               "base 10: 'x' (set LASTSEEN_DEBUG=1 for details)\n")
