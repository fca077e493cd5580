"""Issue 11's SSRF holes, each reproduced against a listener on 127.0.0.1 that counts connections.

The guard's allow-list is empty in these tests unless a test allows exactly one port of one test server (the
"public" site a redirect starts from): the listener's port is never allowed, so any connection it counts is
a hole. Private, link-local and metadata addresses are only ever refused, never reached.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from archive.config import ConfigError, Settings
from archive.net.forward import GuardedForwardProxy, guarded_proxy_url
from archive.net.guard import BlockedURL, NetGuard, check_public_url, parse_allow, parse_target
from archive.net.http import make_session
from archive.watch.fetch import Fetcher
from archive.watch.notify import AppriseNotifier, Message, WebhookNotifier
from tests.conftest import make_settings
from tests.servers.site import Page, Site

ROOT = Path(__file__).resolve().parent.parent


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it gets (and answers 200 'internal')."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            try:
                conn.settimeout(2)
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 8\r\n"
                             b"Connection: close\r\n\r\ninternal")
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Nothing allowed: the guard's allow-list is empty."""
    return make_settings(tmp_path, allow_networks="")


def loopback_forms(port: int) -> list[str]:
    return [f"http://127.0.0.1:{port}/x", f"http://127.1:{port}/x", f"http://localhost:{port}/x",
            f"http://2130706433:{port}/x", f"http://0x7f000001:{port}/x", f"http://[::ffff:127.0.0.1]:{port}/x",
            f"http://127.0.0.1:{port}\\@93.184.215.14/", f"http://%31%32%37.0.0.1:{port}/x",
            f"http://user@127.0.0.1:{port}/x", f"http://127.0.0.1.:{port}/x"]


# --- 1. the checker --------------------------------------------------------------------------------

def test_cli_check_reaches_no_loopback_address(run, listener: Listener) -> None:
    """`lastseen add -c r http://127.1:PORT/x && lastseen check -c r --all`: the listener sees nothing."""
    urls = [u for u in loopback_forms(listener.port) if "\\" not in u and "%" not in u]
    code, _, err = run("add", "-c", "r", *urls)
    assert code == 0, err
    code, out, err = run("check", "-c", "r", "--all", "--json")
    assert listener.connections == 0
    summary = json.loads(out)
    assert (code, summary["checked"], summary["outcomes"], summary["statuses"]) == (
        0, 6, {"connection_error": 6}, {"unreachable": 6}), err
    for url in urls:
        source = json.loads(run("status", url, "--json")[1])["sources"][0]
        assert "refused by the net guard" in source["checks"][0]["detail"], url


def test_fetcher_refuses_loopback_private_and_metadata_directly(listener: Listener) -> None:
    fetcher = Fetcher(timeout=3, max_bytes=1000, user_agent="t")
    targets = [*loopback_forms(listener.port), "http://10.1.2.3/", "http://192.168.1.1/",
               "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://[::127.0.0.1]/",
               "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::]/", "http://0.0.0.0:1/"]
    for url in targets:
        answer = fetcher.fetch(url)
        assert answer.status is None, url
        assert "refused by the net guard" in (answer.error_detail or "") or answer.error == "dns", url
    assert listener.connections == 0


@pytest.mark.parametrize("where", ["loopback", "10.0.0.1", "192.168.0.1", "169.254.169.254"])
def test_fetcher_refuses_a_redirect_inward(site: Site, listener: Listener, where: str) -> None:
    """A 'public' site (its one port allowed) redirects to an internal address: refused at the connection."""
    target = f"http://127.0.0.1:{listener.port}/secret" if where == "loopback" else f"http://{where}/latest"
    site.set("/r", Page("", status=302, headers=[("Location", target)]))
    fetcher = Fetcher(timeout=3, max_bytes=1000, user_agent="t", allow_networks=(f"127.0.0.1/32:{site.port}",))
    answer = fetcher.fetch(site.url("/r"))
    assert answer.chain == [site.url("/r"), target]
    assert answer.status is None and "refused by the net guard" in (answer.error_detail or "")
    assert listener.connections == 0 and site.hits("/r") == 1


# --- 2. what the check and the client read differently ---------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}\\@93.184.215.14/", "http://%31%32%37.0.0.1:{port}/", "http://a@b@93.184.215.14/",
    "http://93.184.215.14%2f@127.0.0.1:{port}/", "http://[::1%25lo]:{port}/", "http://exa mple.org/",
])
def test_the_api_check_refuses_urls_clients_read_differently(url: str, listener: Listener) -> None:
    with pytest.raises(BlockedURL):
        check_public_url(url.format(port=listener.port), ())


def _message() -> Message:
    from datetime import UTC, datetime

    alert = {"kind": "vanished", "url": "https://example.org/a", "collection": "r", "from": "alive", "to": "vanished"}
    return Message((alert,), datetime(2024, 1, 1, tzinfo=UTC), "key")


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}\\@93.184.215.14/", "http://%31%32%37.0.0.1:{port}/",
                                 "http://localhost:{port}/hook", "http://[::ffff:7f00:1]:{port}/"])
def test_signed_alerts_reach_no_loopback_listener(url: str, listener: Listener) -> None:
    notifier = WebhookNotifier(url.format(port=listener.port), "s3cret", "webhook")
    with pytest.raises(requests.ConnectionError, match="refused by the net guard"):
        notifier.session.post(notifier.url, data=b"{}", timeout=3)
    assert not notifier.send(_message()).ok
    assert listener.connections == 0


def test_apprise_targets_are_guarded(listener: Listener) -> None:
    notifier = AppriseNotifier(f"json://127.0.0.1:{listener.port}/hook", "apprise:x")
    result = notifier.send(_message())
    assert not result.ok and "refused by the net guard" in (result.error or "")
    assert listener.connections == 0


# --- 3. yt-dlp ---------------------------------------------------------------------------------------

def _ytdlp_redirect(site: Site, target: str) -> None:
    """The video URL redirects yt-dlp (by its User-Agent) inward; anyone else gets the file."""

    def video(request) -> Page:  # type: ignore[no-untyped-def]
        if "lastseen" in (request.headers.get("User-Agent") or ""):
            return Page(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, content_type="video/mp4")
        return Page("", status=302, headers=[("Location", target)])

    site.fallback = video


@pytest.mark.parametrize("where", ["loopback", "169.254.169.254"])
def test_ytdlp_media_download_is_not_redirected_inward(tmp_path: Path, site: Site, listener: Listener,
                                                       where: str) -> None:
    from crawler.download import MediaError, download_media

    target = f"http://127.0.0.1:{listener.port}/v.mp4" if where == "loopback" else "http://169.254.169.254/v.mp4"
    _ytdlp_redirect(site, target)
    with pytest.raises(MediaError):
        download_media(site.url("/clip.mp4"), tmp_path, proxy=None, timeout=5, max_bytes=10_000,
                       allow_networks=(f"127.0.0.1/32:{site.port}",))
    assert listener.connections == 0
    assert not [p for p in tmp_path.iterdir() if p.stat().st_size]


def test_ytdlp_info_is_not_redirected_inward(site: Site, listener: Listener) -> None:
    from archive.providers.info import fetch_ytdlp

    _ytdlp_redirect(site, f"http://127.0.0.1:{listener.port}/v.mp4")
    info = fetch_ytdlp(site.url("/clip.mp4"), timeout=5, allow_networks=(f"127.0.0.1/32:{site.port}",))
    assert info.info is None or info.info.get("url", "").startswith(site.url(""))
    assert listener.connections == 0


def test_forwarding_proxy_refuses_connect_and_absolute_requests(listener: Listener) -> None:
    proxy = guarded_proxy_url(())
    for url in (f"https://127.0.0.1:{listener.port}/", f"https://localhost:{listener.port}/"):
        with pytest.raises(requests.exceptions.ProxyError):
            requests.get(url, proxies={"https": proxy}, timeout=3)
    for url in (f"http://127.0.0.1:{listener.port}/", f"http://localhost:{listener.port}/",
                f"http://[::ffff:127.0.0.1]:{listener.port}/"):
        answer = requests.get(url, proxies={"http": proxy}, timeout=3)
        assert answer.status_code == 403 and "refused by the net guard" in answer.text
    assert listener.connections == 0


def test_forwarding_proxy_chains_to_an_upstream_proxy(site: Site, listener: Listener) -> None:
    """With LASTSEEN_PROXY the guarded proxy sends allowed requests on to it, refused ones nowhere."""
    upstream = Site().start()
    try:
        upstream.foreign[site.url("/x")] = Page("via upstream", content_type="text/plain")
        server = GuardedForwardProxy(NetGuard.from_settings([f"127.0.0.1:{site.port}"]), upstream.url("")).start()
        try:
            answer = requests.get(site.url("/x"), proxies={"http": server.url}, timeout=5)
            assert answer.text == "via upstream"
            refused = requests.get(f"http://127.0.0.1:{listener.port}/", proxies={"http": server.url}, timeout=5)
            assert refused.status_code == 403
        finally:
            server.stop()
    finally:
        upstream.stop()
    assert listener.connections == 0


# --- 4. IPv6 forms embedding IPv4 ------------------------------------------------------------------

@pytest.mark.parametrize("host", [
    "[::127.0.0.1]", "[::ffff:127.0.0.1]", "[::ffff:a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b::7f00:1]",
    "[64:ff9b:1::a00:1]", "[2002:a9fe:a9fe::]", "[2002:7f00:1::1]", "[2002:c0a8:101::]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1
    "[2001:0:a9fe:a9fe::1]",  # Teredo, server 169.254.169.254
])
def test_ipv6_forms_embedding_ipv4_are_refused(host: str, listener: Listener) -> None:
    with pytest.raises(BlockedURL):
        check_public_url(f"http://{host}/")
    with pytest.raises(requests.ConnectionError, match="refused by the net guard"):
        make_session("t").get(f"http://{host}:{listener.port}/", timeout=2)
    assert listener.connections == 0


def test_the_crawler_refuses_ipv6_forms_of_internal_addresses() -> None:
    from crawler.middlewares import NetGuardMiddleware

    guard = NetGuardMiddleware([])
    for host in ("[::127.0.0.1]", "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::]"):
        with pytest.raises(BlockedURL):
            guard.check(f"http://{host}/")


# --- 10. ports in the allow-list; DNS rebinding -----------------------------------------------------

def test_allow_networks_take_ports(listener: Listener, site: Site) -> None:
    rules = parse_allow(["127.0.0.1/32:8080", "[::1]:443", "10.0.0.0/8:8000-8099", "fd00::/8"])
    assert [str(rule) for rule in rules] == ["127.0.0.1/32:8080", "[::1/128]:443", "10.0.0.0/8:8000-8099",
                                             "fd00::/8"]
    for bad in ("127.0.0.1:0", "127.0.0.1:70000", "[::1]443", "127.0.0.1:80-70"):
        with pytest.raises(ConfigError, match="LASTSEEN_ALLOW_NETWORKS: not a"):
            parse_allow([bad])
    session = make_session("t", allow_networks=[f"127.0.0.1/32:{site.port}"])
    site.set("/ok", Page("ok"))
    assert session.get(site.url("/ok"), timeout=3).text == "ok"
    with pytest.raises(requests.ConnectionError, match="refused by the net guard"):
        session.get(f"http://127.0.0.1:{listener.port}/", timeout=3)
    with pytest.raises(BlockedURL):
        check_public_url(f"http://127.0.0.1:{listener.port}/", [f"127.0.0.1/32:{site.port}"])
    check_public_url(f"http://127.0.0.1:{site.port}/", [f"127.0.0.1/32:{site.port}"])
    assert listener.connections == 0


def test_dns_rebinding_the_connection_uses_the_checked_answer(listener: Listener,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that answers an allowed address once, then 127.0.0.1: the guard resolves once and connects to that
    answer. The allowed address stands in for a public one (127.0.0.2, allowed for this session, where nothing
    listens), so the test never tries the internet and its answer never depends on the network."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "rebind.example.org":
            asked.append(host)
            address = "127.0.0.2" if len(asked) == 1 else "127.0.0.1"  # allowed first, then the listener
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(requests.RequestException) as refused:  # at 127.0.0.2: nothing listens there
        make_session("t", allow_networks=["127.0.0.2/32"]).get(f"http://rebind.example.org:{listener.port}/",
                                                               timeout=0.5)
    assert "GuardRefused" not in str(refused.value), "the checked answer was allowed and connected to"
    assert asked == ["rebind.example.org"], "one lookup per connection"
    assert listener.connections == 0


# --- the crawl: Scrapy connects through the guarded resolver ---------------------------------------

CRAWL = """
import json, sys
from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess
from archive.config import load_settings
from crawler.settings import _RESOLVER_SETTING

class Resolved(Spider):
    name = "resolved"
    async def start(self):
        for url in sys.argv[2:]:
            yield Request(url, dont_filter=True, errback=self.failed)
    def parse(self, response):
        yield {"url": response.url, "body": response.text}
    def failed(self, failure):
        print("failed", failure.value, file=sys.stderr)

process = CrawlerProcess({"LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "ROBOTSTXT_OBEY": False,
                          "RETRY_ENABLED": False, "LASTSEEN_SETTINGS": load_settings(),
                          _RESOLVER_SETTING: "archive.net.resolver.GuardedResolver"})
crawler = process.create_crawler(Resolved)
items = []

def scraped(item):
    items.append(item)

crawler.signals.connect(scraped, signal=__import__("scrapy").signals.item_scraped)
process.crawl(crawler)
process.start()
print(json.dumps({"items": items}))
"""


def test_crawl_connects_only_where_the_resolver_allows(tmp_path: Path, site: Site, listener: Listener) -> None:
    """No middleware here: the resolver alone keeps Twisted off the listener, literal or name, after a redirect."""
    site.set("/start", Page("", status=302, headers=[("Location", f"http://localhost:{listener.port}/secret")]))
    site.set("/fine", Page("fine", content_type="text/plain"))
    script = tmp_path / "crawl.py"
    script.write_text(CRAWL)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LASTSEEN_")},
           "PYTHONPATH": str(ROOT), "LASTSEEN_DATA_DIR": str(tmp_path / "data"),
           "LASTSEEN_ALLOW_NETWORKS": f"127.0.0.1/32:{site.port}"}
    urls = [site.url("/start"), site.url("/fine"), f"http://127.0.0.1:{listener.port}/direct",
            f"http://[::ffff:127.0.0.1]:{listener.port}/mapped"]
    result = subprocess.run([sys.executable, str(script), "-", *urls], capture_output=True, text=True, env=env,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [item["body"] for item in report["items"]] == ["fine"]
    assert result.stderr.count("refused connection:") >= 3, result.stderr[-3000:]
    assert listener.connections == 0


def test_parse_target_agrees_with_urllib3() -> None:
    assert parse_target("https://Example.ORG./a").host == "example.org"
    assert parse_target("http://bücher.example/").host == "xn--bcher-kva.example"
    assert parse_target("http://[::1]:8080/").port == 8080
    for bad in ("http://a\\b/", "http://a%2eb/", "ftp://x/", "http://a b/", "http:///x"):
        with pytest.raises(BlockedURL):
            parse_target(bad)
