"""The lastseen Workspace a Scrapy crawler works in, shared by its spider, extension and pipelines."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from scrapy.crawler import Crawler

from archive.config import Settings, load_settings
from archive.workspace import Workspace

_WORKSPACES: WeakKeyDictionary[Crawler, Workspace] = WeakKeyDictionary()


def lastseen_settings(crawler: Crawler) -> Settings:
    """The Settings the runner handed over, or those of the environment under plain `scrapy crawl`."""
    given = crawler.settings.get("LASTSEEN_SETTINGS")
    return given if isinstance(given, Settings) else load_settings()


def use_workspace(crawler: Crawler, ws: Workspace) -> None:
    """Give the crawler the runner's own Workspace, opened and checked already, before the crawl starts.

    Not through the Scrapy settings: the crawler deep-copies those, and a Workspace holds an engine. A second
    Workspace would connect, check the migrations and build an S3 client again during the crawl.
    """
    _WORKSPACES[crawler] = ws


def crawler_workspace(crawler: Crawler) -> Workspace:
    """One Workspace per crawler: the runner's (use_workspace), else one made on first use (`scrapy crawl`)."""
    if crawler not in _WORKSPACES:
        _WORKSPACES[crawler] = Workspace(lastseen_settings(crawler))
    return _WORKSPACES[crawler]
