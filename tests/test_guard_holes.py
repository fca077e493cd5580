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
