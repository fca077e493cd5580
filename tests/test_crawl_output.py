"""A crawl off a terminal prints lastseen's own lines, one per failed source, and none of Scrapy's dumps or
tracebacks for ordinary network failures; --verbose brings Scrapy's log back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archive.config import Settings
from tests.servers.site import Page, Site
from tests.test_tasks import env_for

LASTSEEN = [sys.executable, "-c", "from archive.cli import run; run()"]
SCRAPY_CHATTER = ("Traceback", "Dumping Scrapy stats", "Overridden settings", "Enabled extensions", "Deprecat",
                  "Versions:", "Gave up retrying")


def _crawl(settings: Settings, site: Site, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    site.set("/story", Page("<html><head><title>Story</title></head><body>a story</body></html>"))
    site.set("/gone", Page("gone", status=404))
    env = env_for(settings, LASTSEEN_ALLOW_NETWORKS="127.0.0.1/32", LASTSEEN_SCREENSHOTS="no", LASTSEEN_CAPTURE="http",
                  LASTSEEN_DESCRIBE_WORKERS="1")
    return subprocess.run([*LASTSEEN, "crawl", *extra, "-c", "news", site.url("/story"), site.url("/gone"),
                           "http://nosuchhost.invalid/"], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_crawl_off_a_terminal_says_one_line_per_failure(settings: Settings, site: Site, tmp_path: Path) -> None:
    done = _crawl(settings, site, tmp_path)
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0, done.stderr[-3000:]
    for chatter in SCRAPY_CHATTER:
        assert chatter not in done.stderr, f"{chatter!r} in\n{done.stderr[-3000:]}"
    failures = [line for line in lines if "could not capture" in line]
    assert len(failures) == 2 and any("nosuchhost.invalid/: dns_error" in line for line in failures) \
        and any("/gone: http_404" in line for line in failures), lines
    assert "captured 1, unchanged 0, failed 2 (dns_error 1, http_404 1)" in done.stdout
    assert len(lines) <= 5, lines


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_verbose_brings_scrapys_log_back(settings: Settings, site: Site, tmp_path: Path) -> None:
    done = _crawl(settings, site, tmp_path, "--verbose")
    assert done.returncode == 0 and "Dumping Scrapy stats" in done.stderr and "Traceback" in done.stderr


def test_the_bar_counts_sources_then_says_describing() -> None:
    from scrapy import Request

    from archive.cli.crawl import CrawlProgress
    from crawler.items import FailedFetch
    from crawler.spiders.archive import META_SOURCE

    with CrawlProgress(interactive=True) as progress:
        (task,) = progress.progress.tasks
        for url, source in [("http://a.example/robots.txt", None), ("http://a.example/1", 1),
                            ("http://a.example/1/", 1), ("http://a.example/2", 2), ("http://a.example/x.css", None)]:
            progress.request_scheduled(Request(url, meta={META_SOURCE: (source, "page")} if source else {}))
        assert (task.completed, task.total) == (0, 2), "two sources, whatever their requests"
        progress.item_scraped(type("Hop", (), {"source_id": 1, "redirect_to": "http://a.example/1/"})())
        progress.item_scraped(type("Page", (), {"source_id": 1, "redirect_to": None})())
        progress.item_scraped(FailedFetch(2, "http://a.example/2", "dns_error", "no such host"))
        assert (task.completed, task.total, task.description) == (2, 2, "crawling")
        progress.downloads_done()
        (task,) = progress.progress.tasks
        assert task.description == "describing" and task.total is None
