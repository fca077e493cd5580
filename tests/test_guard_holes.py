"""Issue 22's requests around the net guard, each reproduced and counted: nothing reaches an inner address.

The forwarding proxy passes one request per connection; it chains to the environment's proxy as every other
client does; Apprise delivers only where the guard checked; IPv6 transition forms are judged by the IPv4
address they carry.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import requests

from archive.net.forward import GuardedForwardProxy
from archive.net.guard import NetGuard
from tests.servers.proxy import KeepAliveProxy
from tests.servers.site import Page, Site

METADATA = b"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"


def _read_answer(sock: socket.socket) -> bytes:
    """One answer (head and Content-Length body) from the socket; b"" when it closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _rest(sock: socket.socket) -> bytes:
    """Whatever else comes before the proxy closes the connection (or 3 s pass)."""
    data = b""
    deadline = time.monotonic() + 3
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, OSError):
        pass
    return data


@pytest.mark.parametrize("pipelined", [False, True])
def test_forwarding_proxy_passes_one_request_per_connection(site: Site, pipelined: bool) -> None:
    """Behind an upstream that keeps connections open, a second request on the connection reaches nothing."""
    upstream = KeepAliveProxy().start()
    proxy = GuardedForwardProxy(NetGuard.from_settings([f"127.0.0.1:{site.port}"]), upstream.url, timeout=2).start()
    first = f"GET {site.url('/a')} HTTP/1.1\r\nHost: 127.0.0.1:{site.port}\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", proxy.server_address[1]), timeout=5) as sock:
            sock.sendall(first + METADATA if pipelined else first)
            answer = _read_answer(sock)
            if not pipelined:
                try:
                    sock.sendall(METADATA)
                except OSError:
                    pass
            more = _rest(sock)
    finally:
        proxy.stop()
        upstream.stop()
    assert upstream.seen == [site.url("/a")], "only the checked request went on"
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(site.url("/a").encode())
    assert b"\r\nConnection: close\r\n" in answer and b"keep-alive" not in answer.lower()
    assert b"169.254.169.254" not in more


def test_forwarding_proxy_chains_to_the_environment_proxy(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy setting: HTTP_PROXY carries the request, NO_PROXY sends it direct, as requests does."""
    upstream = KeepAliveProxy().start()
    proxy = GuardedForwardProxy(NetGuard.from_settings([f"127.0.0.1:{site.port}"]), "", timeout=2).start()
    site.set("/direct", Page("direct", content_type="text/plain"))
    monkeypatch.setenv("HTTP_PROXY", upstream.url)
    monkeypatch.delenv("http_proxy", raising=False)
    try:
        via = requests.get("http://news.example.org/story", proxies={"http": proxy.url}, timeout=5)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.delenv("no_proxy", raising=False)
        direct = requests.get(site.url("/direct"), proxies={"http": proxy.url}, timeout=5)
    finally:
        proxy.stop()
        upstream.stop()
    assert via.status_code == 200 and via.text == "http://news.example.org/story"
    assert direct.text == "direct"
    assert upstream.seen == ["http://news.example.org/story"]


def test_media_is_kept_behind_an_environment_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY/HTTP_PROXY set the standard way, no LASTSEEN_PROXY: yt-dlp's media comes through it."""
    from crawler.download import download_media
    from tests.servers.internet import Internet

    (tmp_path / "internet").mkdir()
    world = Internet(tmp_path / "internet").start()
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
    world.handlers.append(lambda method, url, body: Page(video, content_type="video/mp4")
                          if url == "https://media.example.org/clip.mp4" else None)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", world.url)
    monkeypatch.setenv("HTTP_PROXY", world.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(world.ca.pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(world.ca.pem))  # guarded_ydl_options sets it; restored after
    folder = tmp_path / "media"
    folder.mkdir()
    try:
        download = download_media("https://media.example.org/clip.mp4", folder, proxy=None, timeout=10,
                                  max_bytes=1_000_000)
    finally:
        world.stop()
    assert download.media.read_bytes() == video
    assert world.asked("https://media.example.org/clip.mp4")


TRANSITION_FORMS = [
    "[::ffff:0:127.0.0.1]", "[::ffff:0:a9fe:a9fe]", "[::ffff:0:a00:1]", "[::ffff:0:c0a8:101]",  # SIIT
    "[::ffff:127.0.0.1]", "[::127.0.0.1]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b:1::a00:1]",
    "[64:ff9b:1::808:808]",  # local-use NAT64: this site's own gateway, whatever it carries
    "[2002:a9fe:a9fe::]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
]


@pytest.mark.parametrize("host", TRANSITION_FORMS)
def test_ipv6_transition_forms_are_refused_by_every_client(host: str) -> None:
    """The URL check, a guarded session and the forwarding proxy all refuse them."""
    from archive.net.guard import BlockedURL, check_public_url
    from archive.net.http import make_session

    with pytest.raises(BlockedURL):
        check_public_url(f"http://{host}/latest/meta-data/")
    with pytest.raises(requests.ConnectionError, match="refused by the net guard"):
        make_session("t").get(f"http://{host}:9/", timeout=2)
    proxy = GuardedForwardProxy(NetGuard(), "", timeout=2).start()
    try:
        answer = requests.get(f"http://{host}/", proxies={"http": proxy.url}, timeout=5)
    finally:
        proxy.stop()
    assert answer.status_code == 403 and "refused by the net guard" in answer.text


def test_siit_with_a_public_address_inside_passes() -> None:
    from ipaddress import ip_address

    from archive.net.guard import address_problem

    assert address_problem(ip_address("::ffff:0:808:808")) is None
    assert address_problem(ip_address("64:ff9b::808:808")) is None


def test_the_api_refuses_transition_forms_and_a_refused_batch_creates_nothing(api) -> None:  # type: ignore[no-untyped-def]
    urls = [f"http://{host}/latest/meta-data/" for host in TRANSITION_FORMS]
    answer = api.post("/api/collections/siit/sources", json={"urls": urls})
    assert answer.status_code in {200, 422}, answer.text
    body = answer.json()
    refused = {item["url"] for item in body.get("refused", [])}
    assert body.get("added", []) == [] and (refused == set(urls) or answer.status_code == 422), body
    assert api.get("/api/collections/siit").status_code == 404, "an all-refused batch creates no collection"


def test_token_names_are_checked_alike_on_create_and_delete(api) -> None:  # type: ignore[no-untyped-def]
    """A name that could not be named again in the delete route is not made; every name made can be revoked."""
    from urllib.parse import quote

    for name in ("a/b", "a?b", "x%y", "#x", "a\\b"):
        made = api.request("POST", "/api/tokens", json={"name": name, "role": "reader"})
        assert made.status_code == 422 and "token name" in made.json()["message"], (name, made.text)
        gone = api.request("DELETE", f"/api/tokens/{quote(name, safe='/')}")
        assert gone.status_code == 422 and "token name" in gone.json()["message"], (name, gone.text)
    made = api.request("POST", "/api/tokens", json={"name": "ci (nightly)", "role": "reader"})
    assert made.status_code == 201, made.text
    assert api.request("DELETE", "/api/tokens/ci (nightly)").status_code == 204
    assert api.request("DELETE", "/api/tokens/ci (nightly)").status_code == 404


def test_a_token_made_before_names_were_checked_can_be_revoked(tmp_path: Path) -> None:
    """A live token is revoked by its exact name, whatever it holds: it must never stay usable."""
    from archive.db import session_scope
    from archive.models import ApiToken
    from archive.sources.limits import InputError
    from archive.tokens import authenticate, hash_token, revoke_token
    from archive.workspace import Workspace
    from tests.conftest import make_settings

    ws = Workspace(make_settings(tmp_path))
    try:
        with session_scope(ws.sessions) as session:
            session.add(ApiToken(name="old/one", token_hash=hash_token("lst_old"), role="reader"))
        with session_scope(ws.sessions) as session:
            assert revoke_token(session, "old/one")
            assert authenticate(session, "lst_old") is None
            with pytest.raises(InputError, match="token name"):
                revoke_token(session, "old/one")
    finally:
        ws.close()


def test_timemap_paging_tells_no_private_capture_from_a_missing_one(api) -> None:  # type: ignore[no-untyped-def]
    """Anonymous paging after a private capture's id answers as after an id that does not exist."""
    from datetime import UTC, datetime, timedelta

    from archive.db import session_scope
    from archive.models import Capture, Source
    from archive.sources import ensure_collection
    from archive.urls import domain_of, normalize_url, url_hash

    url = "https://news.example/story"
    normalized = normalize_url(url)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ids = {}
    with session_scope(api.workspace.sessions) as session:
        for name, public, at in (("open", True, t0 + timedelta(days=1)), ("closed", False, t0)):
            collection = ensure_collection(session, name)
            collection.public_read = public
            source = Source(collection_id=collection.id, url=url, normalized_url=normalized,
                            url_hash=url_hash(normalized), domain=domain_of(normalized))
            session.add(source)
            session.flush()
            capture = Capture(source_id=source.id, captured_at=at, url=url, http_status=200, payload_sha256="a" * 64,
                              size=10, warc_uri=f"file:///w/{name}.warc.gz", warc_offset=0, warc_length=9)
            session.add(capture)
            session.flush()
            ids[name] = capture.id
    missing = ids["closed"] + ids["open"] + 1000
    answers = {which: api.request("GET", f"/api/timemap/link/after/{number}/{url}", role=None)
               for which, number in (("private", ids["closed"]), ("missing", missing))}
    assert {which: answer.status_code for which, answer in answers.items()} == {"private": 404, "missing": 404}
    shown = {which: answer.json()["message"].replace(str(number), "N")
             for (which, answer), number in zip(answers.items(), (ids["closed"], missing), strict=True)}
    assert shown["private"] == shown["missing"]
    reader = api.request("GET", f"/api/timemap/link/after/{ids['closed']}/{url}", role="reader")
    assert reader.status_code == 200 and f"/api/captures/{ids['open']}>" in reader.text, "a reader pages on"


def _alert_message():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from archive.watch.notify import Message

    alert = {"kind": "vanished", "url": "https://example.org/a", "collection": "r", "from_status": "alive",
             "to_status": "vanished", "at": "2024-01-01T00:00:00Z"}
    return Message((alert,), datetime(2024, 1, 1, tzinfo=UTC), "key")


@pytest.mark.parametrize("scheme", ["json", "xml", "form"])
def test_apprise_follows_no_redirect_inward(receiver, scheme: str) -> None:  # type: ignore[no-untyped-def]
    """An allowed Apprise target answers 307 to a loopback listener: nothing reaches the listener."""
    from archive.watch.notify import AppriseNotifier
    from tests.test_ssrf import Listener

    listener = Listener()
    try:
        receiver.redirect_to = f"http://127.0.0.1:{listener.port}/inner"
        port = receiver.server.server_address[1]
        notifier = AppriseNotifier(f"{scheme}://127.0.0.1:{port}/hook?redirect=yes", "apprise:x",
                                   allow_networks=(f"127.0.0.1/32:{port}",))
        result = notifier.send(_alert_message())
    finally:
        listener.close()
    assert len(receiver.posts) == 1, "the allowed target was asked"
    assert listener.connections == 0 and not result.ok


def test_apprise_connects_only_to_the_address_checked(receiver, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A name that answers an allowed address to the check, then loopback to Apprise (DNS rebinding): nothing
    delivered. The allowed address stands in for a public one (127.0.0.2, allowed for this notifier, where nothing
    listens), so the test never tries the internet and its answer never depends on the network."""
    from archive.watch.notify import AppriseNotifier
    from tests.test_ssrf import Listener

    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "rebind.example.org":
            asked.append(host)
            return real("127.0.0.2" if len(asked) == 1 else "127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    listener = Listener()
    try:
        notifier = AppriseNotifier(f"json://rebind.example.org:{listener.port}/hook", "apprise:x",
                                   allow_networks=("127.0.0.2/32",))
        result = notifier.send(_alert_message())
    finally:
        listener.close()
    assert len(asked) >= 2, "Apprise looked the name up again"
    assert listener.connections == 0
    assert not result.ok and "refused by the net guard" in (result.error or ""), result.error
    assert "127.0.0.1" in (result.error or "") and "127.0.0.2" not in (result.error or ""), \
        "the checked answer passed; the rebound one Apprise got was refused"
    port = receiver.server.server_address[1]
    allowed = AppriseNotifier(f"json://127.0.0.1:{port}/hook", "apprise:y", allow_networks=(f"127.0.0.1/32:{port}",))
    assert allowed.send(_alert_message()).ok and len(receiver.posts) == 1, "an allowed target still gets its alert"
