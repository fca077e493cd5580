"""Every stored WARC file is timestamped when stored, whatever wrote it (the crawl, its media and screenshots, the
page metadata described after it), and an export carries every WARC file of its collection with their tokens."""

from __future__ import annotations

import gzip
import json
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.config import Settings
from archive.storage import open_storage
from archive.warc.writer import METADATA_URI_PREFIX, SCREENSHOT_URI_PREFIX
from tests.conftest import _need
from tests.servers.site import Page, Site
from tests.servers.tsa import TsaServer
from tests.test_crawl import crawl, stored_records
from tests.test_media import CLIP

PAGE = ('<html><head><title>Flood in the valley</title></head><body><article><p>The river rose three metres '
        'overnight.</p><video src="/media/clip.mp4"></video></article></body></html>')


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[TsaServer]:
    server = TsaServer(tmp_path / "tsa")
    yield server
    server.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_stored_warc_is_stamped_and_exported(settings: Settings, site: Site, tsa: TsaServer, run,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path(settings.chromium_path).exists():
        _need(f"{settings.chromium_path} is missing: the screenshot needs Chromium")
    site.set("/story", Page(PAGE))
    site.set("/media/clip.mp4", Page(CLIP, content_type="video/mp4"))
    tsa_env = {"LASTSEEN_TSA_URLS": tsa.url, "LASTSEEN_TSA_CERTS": str(tsa.ca_pem)}
    code, summary, stderr = crawl(settings, site, site.url("/story"), "-c", "ev", extra_env={
        **tsa_env, "LASTSEEN_SCREENSHOTS": "yes", "LASTSEEN_PROXY": "", "LASTSEEN_DOWNLOAD_TIMEOUT": "20"})
    assert code == 0 and summary["described"] == 1, stderr[-3000:]

    kinds: dict[str, set[str]] = defaultdict(set)  # stored file -> what it holds
    for key, kind, headers, body in stored_records(settings):
        uri = headers.get_header("WARC-Target-URI") or ""
        if kind == "metadata" and uri.startswith(METADATA_URI_PREFIX) and json.loads(body).get("title"):
            kinds[key].add("page metadata")
        elif kind == "resource" and uri.startswith(SCREENSHOT_URI_PREFIX):
            kinds[key].add("screenshot")
        elif kind == "response" and body == CLIP:
            kinds[key].add("video")
    assert set().union(*kinds.values()) == {"page metadata", "screenshot", "video"}, dict(kinds)
    storage = open_storage(settings)
    files = [key for key in storage.keys("warc/") if key.endswith(".warc.gz")]
    assert len(files) >= 2 and set(kinds) <= set(files)
    assert [key for key in files if not storage.exists(key + ".tsr")] == [], "a stored WARC file without a token"

    for name, value in tsa_env.items():
        monkeypatch.setenv(name, value)
    wacz = tmp_path / "ev.wacz"
    code, out, err = run("export", "-c", "ev", str(wacz))
    assert code == 0, err
    with zipfile.ZipFile(wacz) as package:
        names = set(package.namelist())
        index = gzip.decompress(package.read("indexes/index.cdx.gz")).decode()
    kept = {name.removeprefix("archive/").split("-", 1)[1] for name in names
            if name.startswith("archive/") and name.endswith(".warc.gz")}
    assert kept == {Path(key).name for key in files}, "the WACZ holds every stored WARC file of the collection"
    tokens = {name for name in names if name.endswith(".warc.gz.tsr")}
    assert len(tokens) == len(files), "and each file's token"
    assert f'"url": "{METADATA_URI_PREFIX}{site.url("/story")}"' in index, "the page's metadata is in the index"
