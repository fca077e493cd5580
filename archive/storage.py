"""Where archived bytes live: a local folder or an S3-compatible bucket, behind one small protocol.

Keys are predictable so an operator can find things without the database:
  warc/YYYY/MM/DD/<file>.warc.gz      WARC files, one gzip member per record
  warc/YYYY/MM/DD/<file>.warc.gz.cdxj their CDXJ indexes
Video media and yt-dlp's info JSON are records inside the WARC files (crawler.media); `media/` and `meta/`
objects written by earlier versions stay where they are.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlsplit

from archive.config import ConfigError, Settings

_CHUNK = 1024 * 1024
_S3_TRY_AGAIN = {"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "Throttling"}


class StorageError(Exception):
    """Storage cannot do what was asked; the message is one line for the user."""


class StorageUnavailable(StorageError):
    """The storage could not be reached or read just now (a connection, a server error, an I/O error), unlike an
    object that is missing: what needs it can try again later."""


@dataclass(frozen=True)
class StoredObject:
    """An object durably written: where it is, its size and SHA-256."""

    key: str
    uri: str
    size: int
    sha256: str


class Storage(Protocol):
    """What lastseen needs from a place that keeps bytes."""

    base_url: str

    def check(self) -> None:
        """Raise StorageError unless objects can be written and read here."""

    def put_bytes(self, key: str, data: bytes, content_type: str = ...) -> StoredObject:
        """Store data under key, durably, verified by checksum."""

    def put_file(self, key: str, path: Path, content_type: str = ...) -> StoredObject:
        """Store a local file under key, durably, verified by checksum (in parts when large)."""

    def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes of an object, or of one range of it."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under key."""

    def size(self, key: str) -> int:
        """Bytes in the object stored under key."""

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under a prefix, in order."""

    def delete(self, key: str) -> None:
        """Remove an object (an admin's purge); nothing when it is gone already."""

    def uri(self, key: str) -> str:
        """The absolute URI of a key, as stored in the database."""

    def key_of(self, uri: str) -> str:
        """The key of an absolute URI of this storage; StorageError for another storage's URI."""


def warc_key(file_name: str, when: datetime) -> str:
    """Key of a WARC file written at a time."""
    return f"warc/{when:%Y/%m/%d}/{file_name}"


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in {"", ".", ".."} for part in parts):
        raise StorageError(f"invalid storage key: {key!r}")
    return key


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (files may be gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class LocalStorage:
    """A folder on this machine; every write lands whole (temp file, fsync, rename) or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.base_url = self.root.as_uri()

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-", delete=True)
            probe.close()
        except OSError as exc:
            raise StorageError(f"storage folder {self.root} is not writable: {exc.strerror or exc}") from None

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _write(self, key: str, source: IO[bytes]) -> StoredObject:
        target = self._path(key)
        digest = hashlib.sha256()
        size = 0
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in iter(lambda: source.read(_CHUNK), b""):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if sha256_file(Path(tmp_name)) != digest.hexdigest():
                    raise StorageError(f"checksum mismatch writing {key}")
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StorageError(f"cannot write {key} to {self.root}: {exc.strerror or exc}") from None
        return StoredObject(key, self.uri(key), size, digest.hexdigest())

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        return self._write(key, io.BytesIO(data))

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> StoredObject:
        with path.open("rb") as handle:
            return self._write(key, handle)

    def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        try:
            with self._path(key).open("rb") as handle:
                handle.seek(offset)
                return handle.read() if length is None else handle.read(length)
        except FileNotFoundError:
            raise StorageError(f"no object {key} in {self.base_url}") from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key}: {exc.strerror or exc}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise StorageError(f"no object {key} in {self.base_url}") from None

    def keys(self, prefix: str = "") -> Iterator[str]:
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc.strerror or exc}") from None

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def key_of(self, uri: str) -> str:
        parts = urlsplit(uri)
        path = Path(unquote(parts.path))
        if parts.scheme != "file" or not path.is_relative_to(self.root):
            raise StorageError(f"{uri} is not in the storage {self.base_url}")
        return path.relative_to(self.root).as_posix()


class S3Storage:
    """A bucket on any S3-compatible service; uploads carry SHA-256 checksums the server verifies."""

    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None, region: str | None,
                 multipart_threshold: int) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.multipart_threshold = multipart_threshold
        self.base_url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.endpoint_url = endpoint_url or None
        config = Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
            request_checksum_calculation="when_supported",
            response_checksum_validation="when_supported",
        )
        self.client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url,
                                                     region_name=region or None, config=config)

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, key: str | None, exc: Exception) -> StorageError:
        from botocore.exceptions import ClientError, NoCredentialsError

        where = f"s3://{self.bucket}/{self._key(key)}" if key else f"bucket {self.bucket}"
        if isinstance(exc, NoCredentialsError):
            return StorageError("no S3 credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)")
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            if code in {"NoSuchBucket", "404"} and key is None or code == "NoSuchBucket":
                return StorageError(f"S3 bucket {self.bucket!r} does not exist at {self.endpoint_url or 'AWS'}")
            if code in {"NoSuchKey", "404"}:
                return StorageError(f"no object at {where}")
            message = error.get("Message") or code
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            failed = StorageUnavailable if status >= 500 or code in _S3_TRY_AGAIN else StorageError
            return failed(f"cannot {action} {where}: {message}")
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return StorageUnavailable(f"cannot {action} {where}: {text}")  # no answer: connection, timeout

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # botocore raises many kinds; each becomes one line
            raise self._fail("reach", None, exc) from None

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        sha256 = hashlib.sha256(data).digest()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type,
                                   ChecksumSHA256=base64.b64encode(sha256).decode())
        except Exception as exc:
            raise self._fail("upload", key, exc) from None
        return self._verify(key, len(data), sha256.hex())

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> StoredObject:
        from boto3.s3.transfer import TransferConfig

        size = path.stat().st_size
        if size <= self.multipart_threshold:
            return self.put_bytes(key, path.read_bytes(), content_type)
        sha256 = sha256_file(path)
        transfer = TransferConfig(multipart_threshold=self.multipart_threshold,
                                  multipart_chunksize=max(self.multipart_threshold // 2, 5 * 1024**2),
                                  max_concurrency=4)
        extra: dict[str, Any] = {"ContentType": content_type, "ChecksumAlgorithm": "SHA256",
                                 "Metadata": {"sha256": sha256}}
        try:
            self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=extra, Config=transfer)
        except Exception as exc:
            raise self._fail("upload", key, exc) from None
        return self._verify(key, size, sha256)

    def _verify(self, key: str, size: int, sha256: str) -> StoredObject:
        """Ask the server what it holds now: the upload counts only if the size is right."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self._fail("verify", key, exc) from None
        if head["ContentLength"] != size:
            raise StorageError(f"upload of {key} incomplete: {head['ContentLength']} of {size} bytes stored")
        return StoredObject(key, self.uri(key), size, sha256)

    def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            args["Range"] = f"bytes={offset}-{end}"
        try:
            return self.client.get_object(**args)["Body"].read()
        except Exception as exc:
            raise self._fail("read", key, exc) from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise self._fail("look up", key, exc) from None
        except Exception as exc:
            raise self._fail("look up", key, exc) from None

    def size(self, key: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except Exception as exc:
            raise self._fail("look up", key, exc) from None

    def keys(self, prefix: str = "") -> Iterator[str]:
        full = (self.prefix + "/" if self.prefix else "") + prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    yield item["Key"][strip:]
        except Exception as exc:
            raise self._fail("list", prefix or None, exc) from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self._fail("delete", key, exc) from None

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def key_of(self, uri: str) -> str:
        head = f"s3://{self.bucket}/" + (self.prefix + "/" if self.prefix else "")
        if not uri.startswith(head):
            raise StorageError(f"{uri} is not in the storage {self.base_url}")
        return uri[len(head):]


def open_storage(settings: Settings) -> Storage:
    """The backend named by LASTSEEN_STORAGE_URL."""
    parts = urlsplit(settings.storage_url)
    if parts.scheme == "file":
        if parts.netloc not in {"", "localhost"}:
            raise ConfigError(f"LASTSEEN_STORAGE_URL: file URLs name a local path, not host {parts.netloc!r}")
        return LocalStorage(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ConfigError("LASTSEEN_STORAGE_URL: s3:// URL needs a bucket name (s3://bucket/prefix)")
        return S3Storage(parts.netloc, parts.path, endpoint_url=settings.s3_endpoint_url or None,
                         region=settings.s3_region, multipart_threshold=settings.multipart_threshold)
    raise ConfigError(f"LASTSEEN_STORAGE_URL: unknown scheme {parts.scheme!r} (use file:///path or s3://bucket)")
