"""Settings: defaults, TOML file, LASTSEEN_* variables, masking, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.config import ConfigError, load_settings, parse_duration, parse_size


def test_defaults_work_on_a_laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.data_dir == tmp_path / "lastseen-data"
    assert settings.database_url == f"sqlite:///{tmp_path / 'lastseen-data' / 'lastseen.db'}"
    assert settings.storage_url == (tmp_path / "lastseen-data" / "storage").as_uri()
    assert settings.recheck_interval == 86400 and settings.confirm_checks == 2
    assert "lastseen/" in settings.user_agent and settings.contact_url in settings.user_agent


def test_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "lastseen.toml"
    config.write_text('data_dir = "/srv/ls"\nrecheck_interval = "12h"\nhost_rate = 0.5\n'
                      'apprise_urls = ["mailto://a:b@x.org"]\n')
    settings = load_settings(environ={"LASTSEEN_CONFIG": str(config), "LASTSEEN_HOST_RATE": "2"})
    assert settings.data_dir == Path("/srv/ls")
    assert settings.recheck_interval == 43200
    assert settings.host_rate == 2.0
    assert settings.apprise_urls == ("mailto://a:b@x.org",)
    assert settings.database_url == "sqlite:////srv/ls/lastseen.db"


def test_lastseen_table_in_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[lastseen]\nwarc_max_size = "10MB"\n')
    assert load_settings(config, environ={}).warc_max_size == 10 * 1024 * 1024


def test_secrets_are_masked() -> None:
    shown = load_settings(environ={
        "LASTSEEN_DATABASE_URL": "postgresql://user:hunter2@db/ls",
        "LASTSEEN_WAYBACK_SECRET_KEY": "s3cr3t",
        "LASTSEEN_WEBHOOK_URL": "https://hooks.example/abc?token=zzz",
        "LASTSEEN_APPRISE_URLS": "tgram://bottoken/chat, mailto://u:p@x.org",
    }).shown()
    text = repr(shown)
    for secret in ("hunter2", "s3cr3t", "token=zzz", "bottoken", "u:p@"):
        assert secret not in text
    assert shown["database_url"] == "postgresql://user:***@db/ls"
    assert shown["apprise_urls"] == ["tgram://***", "mailto://***"]


@pytest.mark.parametrize("environ, message", [
    ({"LASTSEEN_STORAGE_URL": "ftp://host/x"}, "unknown scheme 'ftp'"),
    ({"LASTSEEN_HOST_RATE": "fast"}, "LASTSEEN_HOST_RATE"),
    ({"LASTSEEN_RECHECK_INTERVAL": "soon"}, "not a duration"),
    ({"LASTSEEN_WARC_MAX_SIZE": "huge"}, "not a size"),
    ({"LASTSEEN_CONFIG": "/nonexistent/lastseen.toml"}, "config file not found"),
])
def test_bad_settings_are_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(environ=environ)
    assert "\n" not in str(info.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("recheck_intervall = 5\n")
    with pytest.raises(ConfigError, match="unknown setting 'recheck_intervall'"):
        load_settings(config, environ={})


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("30m", 1800), ("12h", 43200),
                                           ("1d", 86400), ("1h30m", 5400), ("2w", 1209600)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, size", [("1024", 1024), ("50MB", 50 * 1024**2), ("1GB", 1024**3), ("512k", 524288)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size
