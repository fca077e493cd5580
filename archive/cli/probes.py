"""`lastseen config --check`: connect to each configured part and say in one line whether it works.

Every outbound probe goes through the net guard as the real traffic would, so a webhook the guard refuses is
reported as refused, with the setting that allows it, not later as "cannot connect". Nothing is sent: a TCP
connection (or the service's own ping) is the whole probe.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from archive.config import Settings
from archive.workspace import Workspace

TIMEOUT = 5.0
# Apprise schemes that POST to an address of the operator's choosing (the rest are hosted services).
APPRISE_WEBHOOKS = {"json": 80, "jsons": 443, "xml": 80, "xmls": 443, "form": 80, "forms": 443, "ntfy": 80,
                    "ntfys": 443, "gotify": 80, "gotifys": 443}


@dataclass(frozen=True)
class Probe:
    """One part's answer: its name, whether it works (None: not configured, nothing to check), and why."""

    part: str
    ok: bool | None
    detail: str

    def line(self) -> str:
        state = {True: "ok", False: "FAILED", None: "-"}[self.ok]
        return f"{self.part:<12} {state:<6} {self.detail}"

    def as_dict(self) -> dict[str, object]:
        return {"part": self.part, "ok": self.ok, "detail": self.detail}


def probe_all(ws: Workspace) -> list[Probe]:
    """Every configured part, in the order the work uses them."""
    settings = ws.settings
    return [_database(ws), _storage(ws), _broker(settings), _redis(settings), *_tsas(settings),
            *_webhooks(settings), _chromium(settings), _deno(), _transcription(settings), _tesseract(settings)]


def _failure(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _database(ws: Workspace) -> Probe:
    from sqlalchemy import text

    shown = ws.settings.shown()["database_url"]
    try:
        with ws.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure is this part's answer, said in one line
        return Probe("database", False, _failure(exc))
    return Probe("database", True, str(shown))


def _storage(ws: Workspace) -> Probe:
    try:
        ws.storage  # noqa: B018 - opening it checks it (a missing bucket or an unwritable folder fails here)
    except Exception as exc:
        return Probe("storage", False, _failure(exc))
    return Probe("storage", True, ws.settings.storage_url)


def _broker(settings: Settings) -> Probe:
    if not settings.broker_url:
        return Probe("broker", None, "not set: the scheduler does all the work itself")
    from kombu import Connection

    shown = settings.shown()["broker_url"]
    try:
        with Connection(settings.broker_url, connect_timeout=TIMEOUT) as connection:
            connection.ensure_connection(max_retries=1, timeout=TIMEOUT)
    except Exception as exc:
        return Probe("broker", False, f"{shown}: {_failure(exc)}")
    return Probe("broker", True, str(shown))


def _redis(settings: Settings) -> Probe:
    if not settings.redis_url:
        return Probe("redis", None, "not set: each process paces its own requests")
    import redis

    shown = settings.shown()["redis_url"]
    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT).ping()
    except Exception as exc:
        return Probe("redis", False, f"{shown}: {_failure(exc)}")
    return Probe("redis", True, str(shown))


def _tsas(settings: Settings) -> Iterator[Probe]:
    if not settings.tsa_urls:
        yield Probe("tsa", None, "none configured (LASTSEEN_TSA_URLS): WARC files get no trusted time")
    for url in settings.tsa_urls:
        yield _reach("tsa", url, url, settings)


def _webhooks(settings: Settings) -> Iterator[Probe]:
    if settings.webhook_url:
        yield _reach("webhook", settings.webhook_url, "LASTSEEN_WEBHOOK_URL", settings)
    for number, url in enumerate(settings.apprise_urls, 1):
        scheme = urlsplit(url).scheme.lower()
        name = f"LASTSEEN_APPRISE_URLS #{number} ({scheme}://)"
        if scheme not in APPRISE_WEBHOOKS:
            yield Probe("apprise", None, f"{name}: a hosted service, not checked")
            continue
        yield _reach("apprise", f"{'https' if scheme.endswith('s') else 'http'}://{url.split('://', 1)[1]}", name,
                     settings)


def _reach(part: str, url: str, shown: str, settings: Settings) -> Probe:
    """Whether the net guard lets lastseen reach this URL, and whether its host takes a connection."""
    from archive.net.guard import BlockedURL, check_public_url

    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        check_public_url(url, settings.allow_networks)
    except BlockedURL as exc:
        address = _address(host, port)
        entry = f"[{address}]:{port}" if ":" in address else f"{address}/32:{port}"
        return Probe(part, False, f"{shown}: refused by the net guard: {exc}; to allow it, add {entry} to "
                                  "LASTSEEN_ALLOW_NETWORKS")
    try:
        socket.create_connection((host, port), timeout=TIMEOUT).close()
    except OSError as exc:
        return Probe(part, False, f"{shown}: cannot connect to {host}:{port} ({exc.strerror or exc})")
    return Probe(part, True, f"{shown}: {host}:{port} takes connections")


def _address(host: str, port: int) -> str:
    """The address a host name resolves to (the net guard judges addresses, and allows networks)."""
    try:
        return str(socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)[0][4][0])
    except (OSError, IndexError):
        return host


def _chromium(settings: Settings) -> Probe:
    if not settings.screenshots:
        return Probe("chromium", None, "screenshots off (LASTSEEN_SCREENSHOTS=no)")
    from importlib.util import find_spec

    found = shutil.which(settings.chromium_path)
    if found is None or find_spec("playwright") is None:
        what = "Playwright is not installed" if found else f"not found at {settings.chromium_path}"
        return Probe("chromium", False, f"{what}: no screenshots (LASTSEEN_CHROMIUM_PATH, or LASTSEEN_SCREENSHOTS=no)")
    return Probe("chromium", True, f"{found} (screenshots on; collections may switch them off)")


def _deno() -> Probe:
    """yt-dlp's JavaScript runtime, which YouTube's challenges need."""
    from archive.providers.info import _deno_path

    path = _deno_path()
    if path is None:
        return Probe("deno", False, "not installed: yt-dlp cannot solve YouTube's JavaScript challenges "
                                    "(pip install deno)")
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Probe("deno", False, f"{path}: {_failure(exc)}")
    return Probe("deno", True, f"{(version.splitlines() or [path])[0]} (yt-dlp's JavaScript runtime)")


def _transcription(settings: Settings) -> Probe:
    """The speech model folder, looked at without loading it (faster-whisper loads only to transcribe)."""
    from archive.words.speech import model_problem

    if not settings.transcribe_model:
        return Probe("transcribe", None, "off (no LASTSEEN_TRANSCRIBE_MODEL): kept videos' speech is not transcribed")
    problem = model_problem(settings.transcribe_model)
    if problem:
        return Probe("transcribe", False, problem)
    return Probe("transcribe", True, f"Whisper model at {settings.transcribe_model}")


def _tesseract(settings: Settings) -> Probe:
    """Tesseract and the languages on-screen text is read in."""
    from archive.words.screen import ocr_problem

    if not settings.ocr_languages:
        return Probe("ocr", None, "off (LASTSEEN_OCR_LANGUAGES is empty): on-screen text is not read")
    problem = ocr_problem(settings.ocr_languages)
    if problem:
        return Probe("ocr", False, problem)
    return Probe("ocr", True, f"Tesseract reads {', '.join(settings.ocr_languages)}")
