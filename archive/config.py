"""lastseen's settings: one place, read from defaults, an optional TOML file, then LASTSEEN_* variables."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "LASTSEEN_"


class ConfigError(Exception):
    """A setting that cannot be used; the message is one line for the user."""


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3,
               "t": 1024**4, "tb": 1024**4}


def parse_duration(text: str | int | float) -> int:
    """Seconds in '90', '90s', '30m', '12h', '1d', '2w' or '1h30m'."""
    if isinstance(text, int | float):
        if text < 0:
            raise ConfigError(f"duration must not be negative: {text}")
        return int(text)
    value = text.strip().lower()
    if re.fullmatch(r"\d+", value):
        return int(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhdw])", value)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([smhdw])", "", value).strip():
        raise ConfigError(f"not a duration: {text!r} (use e.g. 90s, 30m, 12h, 1d)")
    return int(sum(float(n) * _DURATION_UNITS[u] for n, u in parts))


def parse_size(text: str | int) -> int:
    """Bytes in '1048576', '50MB', '1GB', '512k' (binary units)."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ConfigError(f"not a size: {text!r} (use e.g. 50MB, 1GB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def _parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"not a yes/no value: {text!r}")


def _parse_list(text: str | list[str]) -> tuple[str, ...]:
    if isinstance(text, list | tuple):
        return tuple(str(item) for item in text)
    return tuple(item.strip() for item in re.split(r"[,\s]+", text) if item.strip())


# Each setting's kind says how a text value is read: str, path, int, float, bool, duration, size, list.
def _setting(default: Any, kind: str, doc: str, secret: bool = False) -> Any:
    return field(default=default, metadata={"kind": kind, "doc": doc, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """Every setting with a default that works on a laptop; see `lastseen config`."""

    data_dir: Path = _setting(Path("./lastseen-data"), "path", "folder for the database, storage and spool")
    database_url: str = _setting("", "str", "SQLAlchemy URL; default: SQLite under data_dir", secret=True)
    storage_url: str = _setting("", "str", "file:///path or s3://bucket/prefix; default: data_dir/storage")
    s3_endpoint_url: str = _setting("", "str", "S3-compatible endpoint; empty means AWS")
    s3_region: str = _setting("us-east-1", "str", "S3 region name")
    multipart_threshold: int = _setting(64 * 1024**2, "size", "objects larger than this upload in parts")
    warc_max_size: int = _setting(1024**3, "size", "a WARC file rolls over past this size")
    warc_max_age: int = _setting(600, "duration", "...or this long after it was opened, so rows appear steadily")
    operator: str = _setting("", "str", "who runs this archive, written into every WARC file")
    contact_url: str = _setting("https://github.com/lastseen", "str", "named in the User-Agent")
    proxy: str = _setting("", "str", "HTTP or SOCKS proxy for all outbound traffic", secret=True)
    page_size_cap: int = _setting(50 * 1024**2, "size", "largest page body a crawl keeps")
    media_size_cap: int = _setting(2 * 1024**3, "size", "largest video media file a crawl keeps in the WARC")
    media_workers: int = _setting(2, "int", "video media downloads under way at once in a crawl")
    media_max_height: int = _setting(720, "int", "highest video resolution (lines) a media download picks")
    requisites: bool = _setting(True, "bool", "archive each page's images, styles, fonts, scripts, icons and frames "
                                "with it, in the same crawl")
    requisite_count: int = _setting(300, "int", "requisites fetched for one page at most (the rest: a failure)")
    requisite_bytes: int = _setting(100 * 1024**2, "size", "bytes of requisites kept for one page at most")
    download_timeout: int = _setting(60, "duration", "a fetch that takes longer fails as a timeout")
    concurrency_per_host: int = _setting(2, "int", "parallel fetches to one host while crawling")
    crawl_retries: int = _setting(2, "int", "retries for timeouts and 5xx while crawling")
    describe_workers: int = _setting(0, "int", "processes extracting page metadata; 0: one per core")
    capture_retry: int = _setting(21600, "duration", "longest wait before a failed capture is tried again "
                                                     "(backoff from 5 min)")
    # Wayback Machine
    wayback_url: str = _setting("https://web.archive.org", "str", "Wayback-compatible archive base URL")
    wayback_collection: str = _setting("", "str", "pywb collection name when the target is pywb")
    wayback_access_key: str = _setting("", "str", "Save Page Now 2 access key", secret=True)
    wayback_secret_key: str = _setting("", "str", "Save Page Now 2 secret key", secret=True)
    wayback_rate: float = _setting(0.1, "float", "submissions per second, all workers together")
    wayback_concurrency: int = _setting(1, "int", "submissions under way at once")
    wayback_skip_window: int = _setting(86400, "duration", "skip a URL the archive captured this recently")
    wayback_max_attempts: int = _setting(6, "int", "transient failures before a submission gives up")
    # Watching
    recheck_interval: int = _setting(86400, "duration", "default time between checks of a source")
    confirm_checks: int = _setting(2, "int", "definitive outcomes in a row before 'vanished'")
    confirm_delay: int = _setting(3600, "duration", "a confirming check is brought forward to this")
    transient_checks: int = _setting(3, "int", "transient failures in a row before 'vanished'")
    transient_span: int = _setting(86400, "duration", "...and the time they must span")
    host_rate: float = _setting(1.0, "float", "checks per second to one host")
    provider_rate: float = _setting(1.0, "float", "checks per second of one video provider's videos")
    provider_pause: int = _setting(1800, "duration", "a provider that answered with a bot check or rate limit "
                                   "is not asked again for this long")
    check_timeout: int = _setting(30, "duration", "a check that takes longer is a timeout")
    check_max_bytes: int = _setting(2 * 1024**2, "size", "bytes of a body a check reads")
    check_concurrency: int = _setting(64, "int", "checks under way at once, all hosts together")
    schedule_tick: int = _setting(30, "duration", "how often the scheduler looks for due work")
    schedule_batch: int = _setting(2000, "int", "due sources one scheduler round checks at most")
    standby_poll: int = _setting(5, "duration", "how often a standby scheduler tries to take over")
    schedule_jobs: tuple[str, ...] = _setting((), "list", "jobs this scheduler runs: recheck, capture, wayback, "
                                              "alerts, feeds, transcribe, footage, timestamp (default all)")
    # Scaling out (see README "Scaling out")
    broker_url: str = _setting("", "str", "Celery broker (amqp://... RabbitMQ, or redis://...); empty: the "
                               "scheduler does all the work in its own process", secret=True)
    redis_url: str = _setting("", "str", "Redis holding per-host rate limits and 429 pauses shared by every "
                              "worker; empty: each process paces itself", secret=True)
    task_lease: int = _setting(300, "duration", "work a lost worker held is handed out again after this (a "
                               "live worker renews its leases every third of it)")
    task_batch: int = _setting(50, "int", "sources per check or capture task")
    check_region: str = _setting("", "str", "the region this process checks from (`lastseen worker --region`): its "
                                 "checks are stored under it; empty: the unnamed region, default")
    # Alerts
    webhook_url: str = _setting("", "str", "POST alerts here as signed JSON", secret=True)
    webhook_secret: str = _setting("", "str", "HMAC-SHA256 key for the webhook signature", secret=True)
    apprise_urls: tuple[str, ...] = _setting((), "list", "Apprise URLs to notify", secret=True)
    alert_max_attempts: int = _setting(10, "int", "delivery tries before an alert is marked failed")
    public_url: str = _setting("", "str", "address people reach the API at, for links in alerts and feeds")
    # API
    api_host: str = _setting("127.0.0.1", "str", "address `lastseen serve` listens on")
    api_port: int = _setting(8000, "int", "port `lastseen serve` listens on")
    allow_networks: tuple[str, ...] = _setting(
        (), "list", "non-public networks lastseen may connect to (checks, crawls, yt-dlp, webhooks, oEmbed...): "
        "NET or NET:PORTS, e.g. 10.0.0.0/8, 127.0.0.1/32:8080, 127.0.0.1:8000-8099, [::1]:443, [fd00::/8]:443; "
        "without PORTS every port")
    # Evidence
    tsa_urls: tuple[str, ...] = _setting((), "list", "RFC 3161 timestamp authorities asked to stamp each WARC file "
                                         "(none: no trusted time)")
    tsa_certs: tuple[str, ...] = _setting((), "list", "PEM files of TSA and CA certificates that timestamp tokens "
                                          "are verified with")
    wacz_signing_key: str = _setting("", "str", "PEM ECDSA P-384 private key that signs WACZ exports; default: one "
                                     "made on first use in data_dir/keys")
    wacz_signing_cert: str = _setting("", "str", "PEM certificate chain (leaf first) of a domain that signs WACZ "
                                      "exports in the certificate form, with its key and a TSA (none: the key)")
    wacz_signing_cert_key: str = _setting("", "str", "PEM private key (ECDSA) of LASTSEEN_WACZ_SIGNING_CERT")
    wacz_signer: str = _setting("", "str", "fingerprint (sha256:HEX) of the key a WACZ must be signed by for "
                                "`verify` to pass it (none: any signer is named, an unsigned package said so)")
    egress_region: str = _setting("", "str", "where the crawl's traffic reaches the internet (a country, a cloud "
                                  "region), written into every WARC file")
    screenshots: bool = _setting(True, "bool", "a full-page screenshot of each captured HTML page when Chromium is "
                                 "found (collections may switch it off)")
    chromium_path: str = _setting("/usr/bin/chromium", "str", "the Chromium that takes screenshots")
    screenshot_pages: int = _setting(2, "int", "browser pages taking screenshots at once")
    capture: str = _setting("auto", "str", "how pages are fetched where a collection does not say (`lastseen "
                            "collection --capture`): http, browser, or auto (the browser for hosts that render "
                            "client-side and for pages whose HTML is a script-loading shell)")
    browsers: int = _setting(2, "int", "Chromium browsers capturing pages at once (collections captured in a "
                             "browser, `--capture browser|auto`), each one page at a time")
    browser_page_seconds: int = _setting(60, "duration", "seconds a page captured in a browser may take at most "
                                         "(loading, settling, scrolling); then what it loaded is kept")
    # Words of kept videos (#25): speech, on-screen text
    transcribe_model: str = _setting("", "str", "folder of a faster-whisper (CTranslate2) Whisper model that "
                                     "`lastseen transcribe` loads; empty: speech is not transcribed")
    transcribe_max_seconds: int = _setting(4 * 3600, "duration", "seconds of a video's speech transcribed at most "
                                           "(audio is decoded up to there only, so memory stays bounded)")
    transcribe_threads: int = _setting(0, "int", "CPU threads one transcription uses; 0: all cores")
    transcribe_video_time: int = _setting(3600, "duration", "wall-clock seconds one video's speech or on-screen "
                                          "text is read at most; what was read by then is kept, and says so")
    ocr_languages: tuple[str, ...] = _setting(("eng", "rus", "ukr", "kaz", "ara"), "list",
                                              "Tesseract languages on-screen text is read in")
    chromium_user: str = _setting("lastseen-browser", "str", "the unprivileged user Chromium runs as when lastseen "
                                  "runs as root, so Chromium's sandbox can start (setup.sh creates it)")
    timemap_page_size: int = _setting(1000, "int", "mementos per TimeMap page; longer maps link a next page")
    footage_frames_per_second: float = _setting(2.0, "float", "frames a second of each kept video fingerprinted "
                                                "(PDQ) to find its footage again")
    footage_query_per_second: float = _setting(1.0, "float", "frames a second of a query video (`lastseen similar`)")
    footage_match_share: float = _setting(0.8, "float", "share of a query video's frames an archived video must hold "
                                          "to match it (0-1)")
    footage_max_seconds: int = _setting(4 * 3600, "duration", "seconds of a video fingerprinted at most; decoding "
                                        "is also capped in frames and time, so a hostile file is a stored failure")
    footage_max_wall: int = _setting(600, "duration", "wall time one video or image may take to fingerprint; "
                                     "past it, it is a stored failure")
    footage_max_memory: int = _setting(2 * 1024**3, "size", "address space of each footage worker process; a file "
                                       "that needs more is a stored failure (0: no limit)")
    footage_workers: int = _setting(2, "int", "processes the scheduler's footage round fingerprints in, off the "
                                    "capture path (with a broker, `lastseen worker -Q footage` does it)")
    report_sources: int = _setting(200, "int", "sources an evidence dossier (`lastseen report`) holds at most; a "
                                   "larger collection's dossier is cut there and says so (choose with --status)")
    footage_index_file: str = _setting("", "str", "file of the FAISS index of frame hashes, kept beside the "
                                       "database; default: data_dir/footage.faissindex")
    footage_index_from: int = _setting(200_000, "int", "frame hashes from which footage lookups go through the "
                                       "FAISS index (below: the exact scan in the database or numpy); 0: always")

    def __post_init__(self) -> None:
        data_dir = self.data_dir.expanduser().absolute()
        object.__setattr__(self, "data_dir", data_dir)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir / 'lastseen.db'}")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", (data_dir / "storage").as_uri())
        if not self.footage_index_file:
            object.__setattr__(self, "footage_index_file", str(data_dir / "footage.faissindex"))
        scheme = urlsplit(self.storage_url).scheme
        if scheme not in {"file", "s3"}:
            raise ConfigError(f"LASTSEEN_STORAGE_URL: unknown scheme {scheme!r} (use file:///path or s3://bucket)")
        for url in self.tsa_urls:
            if urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).netloc:
                raise ConfigError(f"LASTSEEN_TSA_URLS: not an http(s) URL: {url!r}")
        if not 0 < self.footage_match_share <= 1:
            raise ConfigError(f"LASTSEEN_FOOTAGE_MATCH_SHARE: a share from 0 to 1, not {self.footage_match_share}")
        if self.report_sources < 1:
            raise ConfigError(f"LASTSEEN_REPORT_SOURCES: at least 1 source, not {self.report_sources}")
        for name in ("footage_frames_per_second", "footage_query_per_second"):
            if not 0 < getattr(self, name) <= 30:
                raise ConfigError(f"LASTSEEN_{name.upper()}: from 0 to 30 frames a second, not {getattr(self, name)}")

    @property
    def user_agent(self) -> str:
        """Names lastseen and a contact, as polite crawlers do."""
        from archive import __version__

        return f"lastseen/{__version__} (+{self.contact_url})"

    @property
    def spool_dir(self) -> Path:
        """Local folder where WARC files are written before upload."""
        return self.data_dir / "spool"

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (derived defaults are not recomputed for those given)."""
        return dataclasses.replace(self, **changes)

    def shown(self) -> dict[str, Any]:
        """Effective settings with secrets masked, for `lastseen config`."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            if isinstance(value, tuple):
                value = list(value)
            if f.metadata["secret"] and value:
                value = _mask(f.name, value)
            out[f.name] = value
        return out


def mask_proxy(value: str | None) -> str | None:
    """A proxy URL with its password masked, for showing."""
    return _mask("proxy", value) if value else value


def _mask(name: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_mask(name, item) for item in value]
    text = str(value)
    if name in {"database_url", "proxy", "broker_url", "redis_url"}:
        parts = urlsplit(text)
        if parts.password:
            return text.replace(f":{parts.password}@", ":***@", 1)
        return text
    if "://" in text:
        return text.split("://", 1)[0] + "://***"
    return "***"


def _convert(kind: str, raw: Any, name: str) -> Any:
    try:
        if kind == "path":
            return Path(str(raw))
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return _parse_bool(raw)
        if kind == "duration":
            return parse_duration(raw)
        if kind == "size":
            return parse_size(raw)
        if kind == "list":
            return _parse_list(raw)
        return str(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: {exc}") from None


def load_settings(config_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file (argument or LASTSEEN_CONFIG), then LASTSEEN_* variables."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    known = {f.name: f for f in fields(Settings)}
    path = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        data = data.get("lastseen", data)
        for key, raw in data.items():
            if key not in known:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = _convert(known[key].metadata["kind"], raw, key)
    for name, f in known.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _convert(f.metadata["kind"], raw, name)
    return Settings(**values)


def setting_docs() -> list[tuple[str, str, str]]:
    """(variable, kind, what it does) for every setting, for the README and --help."""
    return [(ENV_PREFIX + f.name.upper(), f.metadata["kind"], f.metadata["doc"]) for f in fields(Settings)]


def settings_environment(settings: Settings) -> dict[str, str]:
    """LASTSEEN_* variables that make a child process load exactly these settings."""
    env: dict[str, str] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, tuple | list):
            text = ",".join(str(item) for item in value)
        else:
            text = str(value)
        env[ENV_PREFIX + f.name.upper()] = text
    return env
