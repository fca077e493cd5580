"""Memento end to end: a local site crawled twice by `lastseen crawl`, then read through the API by a real
Memento client (memento_client from PyPI, in its own virtualenv) and by plain HTTP: HEAD everywhere, redirects
as mementos of the URL that redirected, a 404 replayed as 404, paged TimeMaps, the URL archived as given."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.models import Capture, Collection, Source
from tests.conftest import _need
from tests.servers.api import ApiServer, serve
from tests.servers.site import Page, Site
from tests.test_crawl import crawl

CLIENT_REQUIREMENT = "memento-client==0.6.1"
INSTALL_TIMEOUT = 300.0
# What the client does, as a researcher's script would: ask our TimeGate (HEAD, following redirects) for each URL
# at a datetime, print the closest memento it found.
CLIENT_SCRIPT = """
import json, sys
from datetime import datetime
from memento_client import MementoClient
base, asks = sys.argv[1], json.loads(sys.argv[2])
client = MementoClient(timegate_uri=base + "/api/timegate/", check_native_timegate=False)
found = {}
for url, when in asks:
    info = client.get_memento_info(url, datetime.strptime(when, "%Y-%m-%dT%H:%M:%S"))
    closest = info.get("mementos", {}).get("closest", {})
    found[url] = {"uri": (closest.get("uri") or [None])[0], "status": closest.get("http_status_code")}
print(json.dumps(found))
"""
GZIP_PAGE = Page("<html><head><title>Compressed</title></head><body><p>" + "gzip body " * 200 + "</p></body></html>",
                 encoding="gzip")


def _clean_env() -> dict[str, str]:
    """No proxies: the client reaches the loopback API (and the loopback site) directly."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    return env


@pytest.fixture(scope="session")
def memento_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv's python with memento_client, made once and kept in the pytest cache folder."""
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    folder = Path(cache.mkdir("lastseen")) if cache is not None else tmp_path_factory.mktemp("memento-cache")
    venv = folder / "memento-client-venv"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.exists() and marker.read_text().strip() == CLIENT_REQUIREMENT:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True,
                       timeout=INSTALL_TIMEOUT)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        CLIENT_REQUIREMENT], check=True, capture_output=True, timeout=INSTALL_TIMEOUT, env=_clean_env())
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        _need(f"cannot install {CLIENT_REQUIREMENT}: {str(exc)[:200]}")
        raise
    marker.write_text(CLIENT_REQUIREMENT + "\n")
    return python


def ask_client(python: Path, api: ApiServer, asks: list[tuple[str, str]]) -> dict[str, dict]:
    """What memento_client finds for each (URL, datetime)."""
    result = subprocess.run([str(python), "-c", CLIENT_SCRIPT, api.base_url, json.dumps(asks)], capture_output=True,
                            text=True, timeout=120, env=_clean_env())
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def gather(api: ApiServer, url: str) -> tuple[list[str], list[int], int]:
    """A whole TimeMap, page by page (rel="next"): its first page's lines, every memento's capture id, the pages."""
    ids: list[int] = []
    page_url, first_lines, pages = api.url(f"/api/timemap/link/{url}"), None, 0
    while page_url:
        response = requests.get(page_url, timeout=30)
        head = requests.head(page_url, timeout=30)
        assert response.status_code == 200 and head.status_code == 200, (response.text, head.status_code)
        assert head.headers["Content-Length"] == str(len(response.content)) and head.content == b""
        lines = response.text.strip().split(",\n")
        first_lines = first_lines or lines
        pages += 1
        ids += [int(m.group(1)) for m in (re.search(r"/api/captures/(\d+)>; rel=\"[a-z ]*memento\"", line)
                                          for line in lines) if m]
        following = [line for line in lines if 'rel="next timemap"' in line]
        page_url = following[0][1:following[0].index(">")] if following else None
    return first_lines or [], ids, pages


@pytest.fixture
def paged_api(settings: Settings) -> Iterator[ApiServer]:
    """The API with TimeMap pages of one memento, so that every map with two copies is paged."""
    yield from serve(replace(settings, timemap_page_size=1))


def _second(moment) -> str:  # type: ignore[no-untyped-def]
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_memento_client_reads_a_crawled_site(settings: Settings, site: Site, memento_python: Path,
                                             paged_api: ApiServer) -> None:
    api = paged_api
    site.set("/old", Page("", status=301, headers=[("Location", "/gzip.html")], content_type=None))
    site.set("/gzip.html", GZIP_PAGE)
    site.set("/gone", Page("<html><body>Not here</body></html>", status=404))
    site.set("/a.html", Page("<html><head><title>A</title></head><body>a</body></html>"))
    here = f"127.0.0.1:{site.port}"
    given = site.url("/a.html?x=1&utm_source=news")
    with_credentials = f"http://user:secret@{here}/a.html?who=1"
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", str(Path(__file__).parents[1]))}

    code, first, stderr = crawl(settings, site, site.url("/old"), site.url("/gone"), given, with_credentials,
                                "-c", "m", extra_env=env)
    assert code == 0, stderr[-3000:]
    time.sleep(1.1)  # the second crawl is at least a second later: Accept-Datetime has whole seconds
    code, second, stderr = crawl(settings, site, site.url("/old"), site.url("/gzip.html"), "-c", "m", extra_env=env)
    assert code == 0, stderr[-3000:]
    gzip_fetches = [path for _, path, _ in site.requests if path == site.url("/gzip.html")]
    assert len(gzip_fetches) == 2, "once per crawl: as the redirect's target and as a source, fetched once"

    fetched = [path for _, path, _ in site.requests]
    assert given in fetched and site.url("/a.html?x=1") not in fetched, "the URL given is the URL fetched"
    assert not any("secret" in path or "user" in path for path in fetched)
    assert not any("secret" in json.dumps(headers) for _, _, headers in site.requests)

    sessions = open_database(settings.database_url)
    with session_scope(sessions) as session:
        session.scalar(select(Collection).where(Collection.name == "m")).public_read = True
        rows = list(session.scalars(select(Capture).order_by(Capture.captured_at)))
        by_url: dict[str, list[Capture]] = {}
        for row in rows:
            by_url.setdefault(row.url, []).append(row)
        old, target, gone = by_url[site.url("/old")], by_url[site.url("/gzip.html")], by_url[site.url("/gone")]
        assert [(c.http_status, c.record_type) for c in old] == [(301, "response"), (301, "revisit")], \
            "the 301 is archived, and stored again unchanged as a revisit"
        assert [c.record_type for c in target] == ["response", "revisit"]
        old_source = session.get(Source, old[0].source_id)
        assert target[0].source_id == old_source.id, "the first copy of the target was taken through the redirect"
        assert old_source.status == "alive", "the page the redirect led to is its proof of life"
        tracked = session.scalar(select(Source).where(Source.url == given))
        assert tracked is not None and tracked.normalized_url == site.url("/a.html?x=1"), \
            "the source keeps the URL as given; normalization only tells sources apart"
        assert by_url[given][0].http_status == 200
        everything = json.dumps([(s.url, s.normalized_url) for s in session.scalars(select(Source))]) + \
            json.dumps([c.url for c in rows])
        assert "secret" not in everything and "user:" not in everything, "credentials are never stored"
        old_ids, target_ids, gone_id = [c.id for c in old], [c.id for c in target], gone[0].id
        old_source_id = old_source.id
        at = {c.id: c.captured_at for c in rows}

    # A real Memento client: the closest memento of each URL, through HEAD on the TimeGate and the mementos.
    asks = [(site.url("/old"), _second(at[old_ids[0]])), (site.url("/gzip.html"), _second(at[target_ids[1]])),
            (site.url("/gone"), _second(at[gone_id])), (given, _second(at[old_ids[0]]))]
    found = ask_client(memento_python, api, asks)
    assert found[site.url("/gzip.html")] == {"uri": api.url(f"/api/captures/{target_ids[1]}"), "status": 200}
    assert found[site.url("/old")] == {"uri": api.url(f"/api/captures/{target_ids[0]}"), "status": 200}, \
        "the 301 memento leads, through our TimeGate of the target, to the copy taken through it"
    assert found[site.url("/gone")]["status"] == 404
    assert found[site.url("/gone")]["uri"] == api.url(f"/api/captures/{gone_id}")
    assert found[given]["uri"] is not None and found[given]["status"] == 200

    # The redirect as a memento of the URL that redirected, without a token (the collection is public).
    gate = requests.head(api.url(f"/api/timegate/{site.url('/old')}"), allow_redirects=False, timeout=30)
    assert gate.status_code == 302 and gate.headers["Location"] == api.url(f"/api/captures/{old_ids[1]}")
    for method in ("GET", "HEAD"):
        moved = requests.request(method, api.url(f"/api/captures/{old_ids[0]}"), allow_redirects=False, timeout=30)
        assert moved.status_code == 301 and moved.headers["Memento-Datetime"]
        assert moved.headers["Location"] == api.url(f"/api/timegate/{site.url('/gzip.html')}")
        assert f'<{site.url("/old")}>; rel="original"' in moved.headers["Link"]
        lost = requests.request(method, api.url(f"/api/captures/{gone_id}"), timeout=30)
        assert lost.status_code == 404 and lost.headers["Memento-Datetime"]
    target_memento = requests.get(api.url(f"/api/captures/{target_ids[0]}"), timeout=30)
    assert f'<{site.url("/gzip.html")}>; rel="original"' in target_memento.headers["Link"]

    # TimeMaps (pages of one): the redirect's holds its 301s only; the target's holds every copy of it.
    lines, ids, pages = gather(api, site.url("/old"))
    assert lines[0] == f'<{site.url("/old")}>; rel="original"' and ids == old_ids and pages == 2
    assert 'rel="self"' in lines[2] and "from=" in lines[2]
    lines, ids, pages = gather(api, site.url("/gzip.html"))
    assert lines[0] == f'<{site.url("/gzip.html")}>; rel="original"' and ids == target_ids and pages == 2
    given_ids = gather(api, given)[1]
    assert given_ids and gather(api, site.url("/a.html?x=1&utm_source=other"))[1] == given_ids, \
        "tracking parameters tell no copies apart"
    memento = requests.head(api.url(f"/api/captures/{given_ids[0]}"), timeout=30)
    assert f"<{given}>; rel=\"original\"" in memento.headers["Link"], "the memento is of the URL as fetched"
    credentials_map = requests.get(api.url(f"/api/timemap/link/{with_credentials}"), timeout=30)
    assert credentials_map.status_code == 200 and "secret" not in credentials_map.text
    assert "user" not in credentials_map.text and f"http://{here}/a.html?who=1" in credentials_map.text
    detail = requests.get(api.url(f"/api/sources/{old_source_id}"), timeout=30)
    assert detail.status_code == 200 and site.url("/gzip.html") in detail.text
    everything = requests.get(api.url("/api/sources?collection=m"), timeout=30).text
    assert "secret" not in everything and given in everything
