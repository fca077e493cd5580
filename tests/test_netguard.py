"""The SSRF guard: literal addresses, names from /etc/hosts, a resolver we control, allowed networks, redirects.

No test here sends traffic beyond loopback: private and metadata addresses are only ever refused, and the
redirect test's second server listens on 127.0.0.2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from archive.config import ConfigError
from archive.net.guard import BlockedURL, address_problem, check_public_url, parse_networks
from crawler.middlewares import NetGuardMiddleware
from tests.servers.site import Page, Site

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "93.184.216.34"


def fake_resolver(table: dict[str, list[str]]):
    """A resolver answering from a table (unknown names do not resolve), recording what was asked."""
    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        return table.get(host, [])

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(("url", "why"), [
    ("http://127.0.0.1/admin", "loopback"),
    ("http://127.8.9.10:8080/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://10.1.2.3/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.0.1/router", "private"),
    ("http://[fd12:3456::1]/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://100.100.100.200/", "metadata"),
    ("http://169.254.10.10/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://0.0.0.0:9000/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://100.64.0.1/", "non-public"),
])
def test_literal_addresses_are_refused(url: str, why: str) -> None:
    resolver = fake_resolver({})
    with pytest.raises(BlockedURL, match=why):
        check_public_url(url, (), resolver)
    assert resolver.asked == [], "a literal address needs no resolution"


def test_public_addresses_pass() -> None:
    check_public_url(f"https://{PUBLIC}/story", ())
    check_public_url("https://[2606:2800:220:1:248:1893:25c8:1946]/", ())
    assert address_problem(__import__("ipaddress").ip_address("8.8.8.8")) is None


@pytest.mark.parametrize("url", [
    "http://localhost/", "http://LOCALHOST.:8000/x", "http://vm/", "http://runsc:9/", "http://foo.localhost/",
    "http://2130706433/", "http://0x7f000001/", "http://127.1/",
])
def test_names_that_resolve_to_loopback_with_the_system_resolver(url: str) -> None:
    """Names from /etc/hosts and numeric spellings the C resolver turns into 127.0.0.1."""
    with pytest.raises(BlockedURL, match="loopback"):
        check_public_url(url)


def test_every_resolved_address_must_be_public() -> None:
    resolver = fake_resolver({
        "news.example.org": [PUBLIC],
        "mixed.example.org": [PUBLIC, "10.0.0.7"],
        "metadata.example.org": ["169.254.169.254"],
        "v6.example.org": ["fd00::5"],
    })
    check_public_url("https://news.example.org/a", (), resolver)
    with pytest.raises(BlockedURL, match=r"mixed\.example\.org \(10\.0\.0\.7\), a private address"):
        check_public_url("https://mixed.example.org/", (), resolver)
    with pytest.raises(BlockedURL, match="metadata"):
        check_public_url("http://metadata.example.org/latest", (), resolver)
    with pytest.raises(BlockedURL, match="private"):
        check_public_url("http://v6.example.org/", (), resolver)


def test_unresolvable_names() -> None:
    resolver = fake_resolver({})
    check_public_url("https://gone-for-good.example.org/story", (), resolver)
    with pytest.raises(BlockedURL, match="single-label"):
        check_public_url("http://intranet/wiki", (), resolver)
    with pytest.raises(BlockedURL, match="no host"):
        check_public_url("file:///etc/passwd", (), resolver)


def test_allowed_networks() -> None:
    resolver = fake_resolver({"build.corp.example": ["10.20.30.40"], "db.corp.example": ["192.168.1.2"]})
    check_public_url("http://build.corp.example/", ["10.0.0.0/8"], resolver)
    with pytest.raises(BlockedURL):
        check_public_url("http://db.corp.example/", ["10.0.0.0/8"], resolver)
    check_public_url("http://localhost:8000/", ["127.0.0.0/8"])
    check_public_url("http://[::ffff:127.0.0.1]/", ["127.0.0.1/32"])
    with pytest.raises(BlockedURL):
        check_public_url("http://127.0.0.2/", ["127.0.0.1"])
    assert [str(n) for n in parse_networks(["10.0.0.0/8", " 192.168.1.5 ", "fd00::/8"])] == [
        "10.0.0.0/8", "192.168.1.5/32", "fd00::/8"]
    with pytest.raises(ConfigError, match="not an IP network: 'nonsense'"):
        parse_networks(["nonsense"])


def test_middleware_check_uses_settings_networks() -> None:
    resolver = fake_resolver({"cam.example": ["192.168.7.7"]})
    guard = NetGuardMiddleware(["192.168.7.0/24"], resolve=resolver)
    guard.check("http://cam.example/feed")
    with pytest.raises(BlockedURL):
        NetGuardMiddleware([], resolve=resolver).check("http://cam.example/feed")
    with pytest.raises(ConfigError):
        NetGuardMiddleware(["not-a-net"])


@pytest.fixture
def inner_server() -> Iterator[tuple[Site, list[str]]]:
    """A 'private' server on 127.0.0.2 that counts what reaches it."""
    hits: list[str] = []

    def secret(request: BaseHTTPRequestHandler) -> Page:
        hits.append(request.path)
        return Page("secret", content_type="text/plain")

    server = Site(host="127.0.0.2").start()
    server.fallback = secret
    yield server, hits
    server.stop()


CRAWL = """
import json, sys
from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess

class Guarded(Spider):
    name = "guarded"
    custom_settings = {"DOWNLOADER_MIDDLEWARES": {"crawler.middlewares.NetGuardMiddleware": 50}}
    start_path = "/start-guarded"

    async def start(self):
        yield Request(sys.argv[1] + self.start_path)

    def parse(self, response):
        yield {"spider": self.name, "url": response.url, "body": response.text}

class Plain(Guarded):
    name = "plain"
    custom_settings = {}
    start_path = "/start-plain"

process = CrawlerProcess({"LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "ROBOTSTXT_OBEY": False,
                          "RETRY_ENABLED": False})
crawlers = [process.create_crawler(Guarded), process.create_crawler(Plain)]
items = []

def scraped(item):
    items.append(item)

for crawler in crawlers:
    crawler.signals.connect(scraped, signal=__import__("scrapy").signals.item_scraped)
    process.crawl(crawler)
process.start()
print(json.dumps({"items": items, "refused": {c.spider.name: c.stats.get_value("lastseen/netguard/refused", 0)
                                              for c in crawlers}}))
"""


def test_crawler_refuses_a_redirect_into_a_private_address(tmp_path: Path, inner_server, site: Site) -> None:
    """A public-looking page redirecting to an internal server: the guarded crawl stops, an unguarded one would not."""
    server, hits = inner_server
    inner = server.url("")
    site.set("/start-guarded", Page("", status=302, headers=[("Location", f"{inner}/secret-guarded")]))
    site.set("/start-plain", Page("", status=302, headers=[("Location", f"{inner}/secret-plain")]))
    script = tmp_path / "crawl.py"
    script.write_text(CRAWL)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LASTSEEN_")},
           "PYTHONPATH": str(ROOT), "LASTSEEN_DATA_DIR": str(tmp_path / "data"),
           "LASTSEEN_ALLOW_NETWORKS": "127.0.0.1/32"}
    result = subprocess.run([sys.executable, str(script), site.url("").rstrip("/")], capture_output=True,
                            text=True, env=env, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert hits == ["/secret-plain"], "only the unguarded crawl reached the internal server"
    assert [(item["spider"], item["body"]) for item in report["items"]] == [("plain", "secret")]
    assert report["refused"] == {"guarded": 1, "plain": 0}
    assert "points to 127.0.0.2, a loopback address" in result.stderr
    assert site.hits("/start-guarded") == 1, "the allowed network was fetched"
