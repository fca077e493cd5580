"""What a crawl connects to, seen from inside its process: behind a refusing proxy with no DNS, only the proxy.

A sitecustomize hook in the `lastseen crawl` child records every name lookup (and fails it: there is no DNS
here), every TCP connection and every socket that listens. Scrapy's cookie middleware would fetch the Public
Suffix List itself (tldextract, by direct DNS); its RemoteControl extension would listen on a loopback port
and leave a token file behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from archive.config import Settings
from tests.servers.proxy import RegionProxy
from tests.servers.site import Page, Site
from tests.test_crawl import crawl

HOOK = '''
import ipaddress, json, os, socket

_log = os.environ["LASTSEEN_TEST_NETLOG"]
_resolve = socket.getaddrinfo


def _write(kind, what):
    with open(_log, "a") as out:
        out.write(json.dumps([kind, what]) + "\\n")


def _literal(name):
    try:
        ipaddress.ip_address(str(name).split("%")[0])
        return True
    except ValueError:
        return False


def _getaddrinfo(host, port, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or _literal(name):
        return _resolve(host, port, *args, **kwargs)
    _write("lookup", name)
    if name == "localhost":
        return _resolve("127.0.0.1", port, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, "no DNS in this test")


socket.getaddrinfo = _getaddrinfo

for _method in ("connect", "connect_ex"):
    def _wrapped(self, address, _real=getattr(socket.socket, _method), _kind=_method):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _write(_kind, [address[0], address[1]])
        return _real(self, address)
    setattr(socket.socket, _method, _wrapped)


def _listen(self, *args, _real=socket.socket.listen):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _write("listen", list(self.getsockname()[:2]))
    return _real(self, *args)


socket.socket.listen = _listen
'''


def test_a_crawl_behind_a_refusing_proxy_connects_to_the_proxy_alone(tmp_path: Path, settings: Settings,
                                                                     site: Site) -> None:
    refusal = Page("refused by policy", status=403, content_type="text/plain",
                   headers=[("Set-Cookie", "policy=1; Domain=.news.example.org; Path=/"),
                            ("Set-Cookie", "wide=1; Domain=.example.org; Path=/")])
    proxy = RegionProxy({"/": refusal, "/robots.txt": Page("", status=404)}).start()
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(HOOK)
    log = tmp_path / "net.log"
    state, cache = tmp_path / "state", tmp_path / "cache"
    code_path = os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parents[1])
    try:
        code, summary, stderr = crawl(settings, site, "http://news.example.org/", "-c", "egress", "--no-media",
                                      extra_env={"PYTHONPATH": f"{hooks}{os.pathsep}{code_path}",
                                                 "LASTSEEN_TEST_NETLOG": str(log), "LASTSEEN_PROXY": proxy.url,
                                                 "XDG_STATE_HOME": str(state), "XDG_CACHE_HOME": str(cache),
                                                 "HOME": str(tmp_path / "home")})
    finally:
        proxy.stop()
    assert proxy.seen, f"the crawl went through the proxy: {stderr[-2000:]}"
    events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    proxy_port = int(proxy.url.rsplit(":", 1)[1])
    db_port = 5432 if settings.database_url.startswith("postgresql") else None
    connects = [tuple(what) for kind, what in events if kind in ("connect", "connect_ex")]
    assert connects and all(port in (proxy_port, db_port) for _, port in connects), connects
    lookups = sorted({what for kind, what in events if kind == "lookup"})
    assert lookups == ["news.example.org"], "only the seed's host, by the guard's own check"
    assert not [what for kind, what in events if kind == "listen"], "nothing listens in a crawl"
    assert not [p for p in state.rglob("*") if p.is_file()], "no job file left"
    assert not [p for p in cache.rglob("*") if p.is_file()], "no Public Suffix List fetched or cached"


def test_cookies_are_kept_and_public_suffixes_refused_by_the_packaged_list(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The crawl's cookie middleware keeps a site's cookie, refuses one set for a public suffix, asks no one."""
    import socket

    from scrapy import Request
    from scrapy.http import Response
    from scrapy.utils.test import get_crawler

    from crawler.cookies import CookiesMiddleware

    def no_dns(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError(f"a name lookup: {args[0]!r}")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    middleware = CookiesMiddleware.from_crawler(get_crawler(settings_dict={"COOKIES_ENABLED": True}))
    request = Request("https://news.example.co.uk/story")
    response = Response(request.url, headers={"Set-Cookie": ["site=1; Domain=.example.co.uk; Path=/",
                                                             "suffix=1; Domain=.co.uk; Path=/"]}, request=request)
    middleware.process_response(request, response)
    follow = Request("https://www.example.co.uk/next")
    middleware.process_request(follow)
    assert follow.headers.get("Cookie") == b"site=1"
