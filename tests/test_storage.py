"""Storage backends: a local folder and a real SeaweedFS, through the same protocol."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from archive.config import Settings
from archive.storage import LocalStorage, StorageError, open_storage, warc_key
from tests.conftest import make_settings
from tests.servers.seaweed import SeaweedServer


@pytest.fixture
def store_settings(tmp_path: Path, storage_url: str, request: pytest.FixtureRequest) -> Settings:
    values: dict[str, object] = {"storage_url": storage_url, "multipart_threshold": "6MB"}
    if storage_url.startswith("s3://"):
        values["s3_endpoint_url"] = request.getfixturevalue("seaweed").endpoint_url
    return make_settings(tmp_path, **values)


def test_put_read_ranges_and_listing(store_settings: Settings) -> None:
    storage = open_storage(store_settings)
    storage.check()
    data = bytes(range(256)) * 40
    stored = storage.put_bytes("warc/2026/11/24/a.warc.gz", data)
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert storage.read(stored.key) == data
    assert storage.read(stored.key, 1000, 17) == data[1000:1017]
    assert storage.read(stored.key, len(data) - 5) == data[-5:]
    assert storage.exists(stored.key)
    assert not storage.exists("warc/2026/11/24/missing.warc.gz")
    storage.put_bytes("meta/abc.json", b"{}")
    assert list(storage.keys("warc/")) == ["warc/2026/11/24/a.warc.gz"]
    assert sorted(storage.keys()) == ["meta/abc.json", "warc/2026/11/24/a.warc.gz"]
    assert storage.key_of(stored.uri) == stored.key
    assert stored.uri.startswith(storage.base_url)


def test_reading_what_is_not_there_is_one_clear_error(store_settings: Settings) -> None:
    storage = open_storage(store_settings)
    storage.check()
    with pytest.raises(StorageError, match="no object") as info:
        storage.read("warc/none.warc.gz")
    assert "\n" not in str(info.value)


def test_keys_cannot_escape_the_storage(store_settings: Settings) -> None:
    storage = open_storage(store_settings)
    for key in ("../etc/passwd", "/abs", "a//b", ""):
        with pytest.raises(StorageError, match="invalid storage key"):
            storage.put_bytes(key, b"x")


def test_large_file_goes_up_whole(store_settings: Settings, tmp_path: Path) -> None:
    """Over the threshold S3 uploads in parts; the object read back is the file, byte for byte."""
    path = tmp_path / "big.warc.gz"
    data = os.urandom(14 * 1024 * 1024 + 123)
    path.write_bytes(data)
    storage = open_storage(store_settings)
    stored = storage.put_file(warc_key("big.warc.gz", __import__("datetime").datetime(2026, 11, 24)), path)
    assert stored.key == "warc/2026/11/24/big.warc.gz"
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(storage.read(stored.key)).hexdigest() == stored.sha256
    assert storage.read(stored.key, 10 * 1024 * 1024, 100) == data[10 * 1024 * 1024:10 * 1024 * 1024 + 100]
    if store_settings.storage_url.startswith("s3://"):
        etag = storage.client.head_object(Bucket=storage.bucket, Key=storage._key(stored.key))["ETag"]
        assert "-" in etag, "expected a multipart upload above the threshold"


def test_missing_bucket_is_one_clear_line(s3_env: SeaweedServer, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, storage_url="s3://no-such-bucket-here/x", s3_endpoint_url=s3_env.endpoint_url)
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-here' does not exist") as info:
        open_storage(settings).check()
    assert "\n" not in str(info.value)


def test_unwritable_folder_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="not writable"):
        LocalStorage(blocker / "storage").check()


def test_local_write_is_atomic(tmp_path: Path) -> None:
    """A failed write leaves neither a partial object nor a temp file behind."""
    storage = LocalStorage(tmp_path / "s")

    class Exploding:
        def read(self, _n: int) -> bytes:
            raise OSError(5, "Input/output error")

    with pytest.raises(StorageError, match="cannot write"):
        storage._write("warc/x.warc.gz", Exploding())  # type: ignore[arg-type]
    assert not storage.exists("warc/x.warc.gz")
    assert list((tmp_path / "s").rglob("*.warc.gz*")) == []


@pytest.mark.timeout(120)
def test_server_stopped_mid_upload_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kill SeaweedFS while a multipart upload runs: a one-line StorageError, not a hang or a traceback."""
    from tests.servers.seaweed import ACCESS_KEY, SECRET_KEY

    server = SeaweedServer(tmp_path / "weed")
    server.start()
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        server.client().create_bucket(Bucket="dying")
        settings = make_settings(tmp_path, storage_url="s3://dying", s3_endpoint_url=server.endpoint_url,
                                 multipart_threshold="5MB")
        storage = open_storage(settings)
        path = tmp_path / "large.bin"
        with path.open("wb") as out:
            for _ in range(300):
                out.write(os.urandom(1024 * 1024))
        outcome: dict[str, BaseException | object] = {}

        def upload() -> None:
            try:
                outcome["result"] = storage.put_file("warc/large.warc.gz", path)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                outcome["error"] = exc

        thread = threading.Thread(target=upload)
        thread.start()
        time.sleep(0.4)
        server.kill()
        thread.join(100)
        assert not thread.is_alive(), "upload hung after the server died"
        error = outcome.get("error")
        assert isinstance(error, StorageError), f"expected StorageError, got {outcome}"
        assert "\n" not in str(error) and "warc/large.warc.gz" in str(error)
    finally:
        server.stop()
