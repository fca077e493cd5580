"""The API served for real: uvicorn on a free loopback port in a thread, with tokens of every role."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import uvicorn
from sqlalchemy.orm import Session

from archive.api import create_app
from archive.config import Settings
from archive.db import session_scope
from archive.models import Capture, Check, Collection, Source, StatusTransition
from archive.net.guard import Resolver, resolve_host
from archive.sources import SourceEntry, add_sources
from archive.storage import warc_key
from archive.tokens import create_token
from archive.warc import ClosedWarc, RevisitTarget, RollingWarcWriter, WarcRecordInfo
from archive.workspace import Workspace


@dataclass
class ApiServer:
    """A running API: its base URL, the settings it runs on, and a token per role."""

    base_url: str
    settings: Settings
    workspace: Workspace
    tokens: dict[str, str]
    app: Any
    http: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers(self, role: str | None) -> dict[str, str]:
        """Authorization for a role (None: anonymous)."""
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def get(self, path: str, role: str | None = "reader", **kwargs: Any) -> requests.Response:
        return self.http.get(self.url(path), headers={**self.headers(role), **kwargs.pop("headers", {})},
                             timeout=30, allow_redirects=kwargs.pop("allow_redirects", False), **kwargs)

    def post(self, path: str, role: str | None = "archivist", **kwargs: Any) -> requests.Response:
        return self.http.post(self.url(path), headers={**self.headers(role), **kwargs.pop("headers", {})},
                              timeout=30, allow_redirects=False, **kwargs)

    def request(self, method: str, path: str, role: str | None = "admin", **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url(path), headers={**self.headers(role), **kwargs.pop("headers", {})},
                                 timeout=30, allow_redirects=False, **kwargs)


def serve(settings: Settings, resolve: Resolver = resolve_host) -> Iterator[ApiServer]:
    """Run the app under uvicorn until the generator is closed: the body of the `api` fixtures."""
    app = create_app(settings, resolve=resolve)
    workspace = app.state.workspace
    with session_scope(workspace.sessions) as session:
        tokens = {role: create_token(session, f"test-{role}", role) for role in ("reader", "archivist", "admin")}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    api = ApiServer(base_url=f"http://127.0.0.1:{port}", settings=settings, workspace=workspace, tokens=tokens,
                    app=app)
    try:
        yield api
    finally:
        api.http.close()
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


running_api = contextmanager(serve)


# ---------------------------------------------------------------------------------------------- test data


def at(text: str) -> datetime:
    """An aware UTC time from 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_source(session: Session, collection: Collection, url: str, *, kind: str = "page", tags: tuple[str, ...] = (),
               **fields: Any) -> Source:
    """A source added the way the CLI adds it, then given the fields a test needs."""
    result = add_sources(session, collection, [SourceEntry(url)], kind=kind, tags=tags)
    source = session.get(Source, result.added[0].id)
    for name, value in fields.items():
        setattr(source, name, value)
    session.flush()
    return source


def store_exchange(workspace: Workspace, url: str, body: bytes, *, when: datetime, status: int = 200,
                   headers: list[tuple[str, str]] | None = None,
                   revisit_of: RevisitTarget | None = None) -> tuple[WarcRecordInfo, str]:
    """Write one fetch into a real WARC file with RollingWarcWriter and store it; the record and the file's URI."""
    closed: list[ClosedWarc] = []
    writer = RollingWarcWriter(workspace.settings.spool_dir, prefix="test", max_size=1 << 30,
                               warcinfo={"software": "lastseen tests"}, on_close=closed.append)
    records = writer.write_exchange(url=url, method="GET", request_headers=[("User-Agent", "lastseen-test")],
                                    http_version="HTTP/1.1", status=status, reason="OK" if status < 400 else "Error",
                                    response_headers=headers or [("Content-Type", "text/html; charset=utf-8")],
                                    body=body, ip_address="127.0.0.1", fetched_at=when, revisit_of=revisit_of)
    writer.close()
    stored = workspace.storage.put_file(warc_key(closed[0].path.name, when), closed[0].path)
    return records.response, stored.uri


def add_capture(session: Session, source: Source, record: WarcRecordInfo, uri: str, *, status: int = 200,
                content_type: str | None = "text/html; charset=utf-8") -> Capture:
    """The capture row the crawler would write for a stored record."""
    capture = Capture(source_id=source.id, captured_at=datetime.fromisoformat(record.date.replace("Z", "+00:00")),
                      url=record.target_uri, http_status=status, content_type=content_type,
                      payload_sha256=record.payload_sha256, payload_digest=record.payload_digest,
                      size=record.payload_size, record_type=record.record_type, warc_uri=uri,
                      warc_offset=record.offset, warc_length=record.length, record_id=record.record_id)
    session.add(capture)
    session.flush()
    return capture


def add_check(session: Session, source: Source, when: datetime, outcome: str, status: int | None = 200) -> Check:
    check = Check(source_id=source.id, checked_at=when, outcome=outcome, http_status=status, detail=f"{outcome} seen")
    session.add(check)
    return check


def add_transition(session: Session, source: Source, when: datetime, before: str, after: str,
                   reason: str | None = None) -> StatusTransition:
    transition = StatusTransition(source_id=source.id, at=when, kind=after, from_status=before, to_status=after,
                                  reason=reason, evidence=[])
    session.add(transition)
    session.flush()
    return transition
