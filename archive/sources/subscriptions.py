"""Feed subscriptions: RSS and Atom feeds and sitemaps (sitemap indexes, `.xml.gz` sitemaps, Google News
sitemaps) a collection follows. Each poll fetches the URL through the net guard and the one proxy, and adds its
new entries as sources; the scheduler (or a worker's task) polls them on the collection's schedule.

Feeds are read as a stream from a spooled file; sitemaps (50,000 URLs at most, by the protocol) by Scrapy's
`Sitemap`, which also reads sitemap indexes, whose sitemaps are fetched in turn.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

import requests
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.db import session_scope
from archive.models import Collection, Subscription, utcnow
from archive.net.guard import BlockedURL
from archive.net.http import GuardRefused, make_session, one_line
from archive.sources import SourceEntry, add_in_batches, get_collection
from archive.sources.importers import read_feed_stream
from archive.urls import check_url, url_hash
from archive.workspace import Workspace

MAX_BYTES = 100 * 1024 * 1024  # one feed or sitemap, as received and uncompressed (the protocol's cap is 50 MB)
MAX_SITEMAPS = 500  # sitemaps of one index read per poll
_CHUNK = 1024 * 1024


class FeedError(Exception):
    """A feed or sitemap that could not be fetched or read: one line, kept as the subscription's last error."""


@dataclass
class PollResult:
    """What one poll of a subscription did."""

    url: str
    collection: str
    format: str | None = None
    added: list[str] = field(default_factory=list)
    known: int = 0
    refused: int = 0
    error: str | None = None
    next_poll_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "collection": self.collection, "format": self.format, "added": self.added,
                "known": self.known, "refused": self.refused, "error": self.error,
                "next_poll_at": self.next_poll_at.isoformat().replace("+00:00", "Z") if self.next_poll_at else None}


def subscribe(session: Session, collection: Collection, url: str) -> tuple[Subscription, bool]:
    """The collection's subscription to this URL, made if new (then due at once); whether it was made."""
    url = check_url(url.strip())
    digest = url_hash(url)
    found = session.scalar(select(Subscription).where(Subscription.collection_id == collection.id,
                                                      Subscription.url_hash == digest))
    if found is not None:
        return found, False
    row = Subscription(collection_id=collection.id, url=url, url_hash=digest, last_added=0, total_added=0)
    session.add(row)
    session.flush()
    return row, True


def poll(ws: Workspace, subscription_id: int, now: datetime | None = None) -> PollResult:
    """Fetch one subscription, add its new entries as sources, and set when it is polled next."""
    now = now or utcnow()
    with session_scope(ws.sessions) as session:
        sub = session.get(Subscription, subscription_id)
        if sub is None:
            raise FeedError(f"no subscription {subscription_id}")
        collection = session.get(Collection, sub.collection_id)
        assert collection is not None
        result = PollResult(sub.url, collection.name)
        interval = collection.recheck_interval or ws.settings.recheck_interval
    try:
        with _Fetcher(ws) as fetcher:
            result.format, entries = fetcher.entries(result.url)
            with session_scope(ws.sessions) as session:
                collection = get_collection(session, result.collection)
                assert collection is not None
                for batch in add_in_batches(session, collection, entries, actor=f"lastseen subscription {result.url}"):
                    session.commit()
                    result.added += [source.normalized_url for source in batch.added]
                    result.known += len(batch.known)
                    result.refused += len(batch.refused)
    except FeedError as exc:
        result.error = str(exc)
    result.next_poll_at = now + timedelta(seconds=interval)
    with session_scope(ws.sessions) as session:
        sub = session.get(Subscription, subscription_id)
        if sub is not None:
            sub.last_polled_at, sub.next_poll_at, sub.last_error = now, result.next_poll_at, result.error
            sub.format = result.format or sub.format
            sub.last_added = len(result.added)
            sub.total_added += len(result.added)
    return result


def poll_due(ws: Workspace, now: datetime | None = None) -> list[PollResult]:
    """Poll every subscription that is due (archive.due.subscriptions_due)."""
    from archive.due import subscriptions_due

    now = now or utcnow()
    with session_scope(ws.sessions) as session:
        ids = subscriptions_due(session, now)
    return [poll(ws, subscription_id, now) for subscription_id in ids]


class _Fetcher:
    """Fetches feeds and sitemaps into spooled files, through the net guard and the one proxy."""

    def __init__(self, ws: Workspace) -> None:
        settings = ws.settings
        self.http = make_session(settings.user_agent, settings.proxy, allow_networks=settings.allow_networks)
        self.timeout = float(settings.download_timeout)

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def fetch(self, url: str) -> IO[bytes]:
        """The document at url, uncompressed, in a temporary file (FeedError when it cannot be had)."""
        spool = tempfile.TemporaryFile()
        try:
            with self.http.get(url, stream=True, timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise FeedError(f"{url} answered HTTP {response.status_code}")
                size = 0
                for chunk in response.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise FeedError(f"{url} is larger than {MAX_BYTES // (1024 * 1024)} MB")
                    spool.write(chunk)
        except BlockedURL as exc:
            spool.close()
            raise FeedError(str(exc)) from None
        except requests.RequestException as exc:
            spool.close()
            reason = getattr(exc.args[0] if exc.args else None, "reason", None)
            if isinstance(reason, GuardRefused):  # say what the guard said, with the setting that allows it
                raise FeedError(f"{url}: {str(reason).partition(': ')[2]}") from None
            raise FeedError(f"cannot fetch {url}: {one_line(str(exc))}") from None
        except FeedError:
            spool.close()
            raise
        spool.seek(0)
        if spool.read(2) == b"\x1f\x8b":  # a .xml.gz sitemap (not a Content-Encoding, which requests undoes)
            spool.seek(0)
            return _gunzipped(spool, url)
        spool.seek(0)
        return spool

    def entries(self, url: str) -> tuple[str, Iterator[SourceEntry]]:
        """The document's format and its URLs as entries."""
        document = self.fetch(url)
        kind = _root(document, url)
        if kind in {"rss", "RDF", "feed"}:
            return ("atom" if kind == "feed" else "rss"), _closing(document, read_feed_stream(document))
        if kind in {"urlset", "sitemapindex"}:
            return ("sitemap" if kind == "urlset" else "sitemapindex"), self._sitemap(document, url, depth=0)
        document.close()
        raise FeedError(f"{url}: XML root <{kind}> is neither a sitemap nor an RSS/Atom feed")

    def _sitemap(self, document: IO[bytes], url: str, depth: int) -> Iterator[SourceEntry]:
        """A sitemap's page URLs (Google News sitemaps included); an index's sitemaps read in turn, once deep."""
        from scrapy.utils.sitemap import Sitemap

        with document:
            sitemap = Sitemap(document.read())
        if sitemap.type == "urlset":
            yield from (SourceEntry(item["loc"]) for item in sitemap if item.get("loc"))
            return
        if depth > 0:
            yield SourceEntry(url, problem=f"{url}: a sitemap index inside a sitemap index is not followed")
            return
        for number, item in enumerate(sitemap):
            child = item.get("loc", "")
            if number >= MAX_SITEMAPS:
                yield SourceEntry(child, problem=f"{url}: more than {MAX_SITEMAPS} sitemaps; the rest wait")
                return
            try:
                yield from self._sitemap(self.fetch(child), child, depth + 1)
            except FeedError as exc:
                yield SourceEntry(child, problem=str(exc))


def _gunzipped(spool: IO[bytes], url: str) -> IO[bytes]:
    """A gzip file's content, bounded by MAX_BYTES (scrapy.utils.gz, as Scrapy reads .xml.gz sitemaps)."""
    from scrapy.utils._compression import _DecompressionMaxSizeExceeded
    from scrapy.utils.gz import gunzip

    with spool:
        try:
            data = gunzip(spool.read(), max_size=MAX_BYTES)
        except _DecompressionMaxSizeExceeded:
            raise FeedError(f"{url} unpacks to more than {MAX_BYTES // (1024 * 1024)} MB") from None
        except (OSError, EOFError) as exc:
            raise FeedError(f"{url} is not a readable gzip file: {exc or 'cut short'}") from None
    out = tempfile.TemporaryFile()
    out.write(data)
    out.seek(0)
    return out


def _root(document: IO[bytes], url: str) -> str:
    """The local name of the document's root element (the document rewound)."""
    try:
        for _event, element in etree.iterparse(document, events=("start",), resolve_entities=False, no_network=True,
                                               huge_tree=False, recover=True):
            return etree.QName(element.tag).localname if isinstance(element.tag, str) else ""
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"{url} is not XML: {exc}") from None
    finally:
        document.seek(0)
    raise FeedError(f"{url} is empty or not XML")


def _closing(document: IO[bytes], entries: Iterator[SourceEntry]) -> Iterator[SourceEntry]:
    with document:
        yield from entries
