"""What is never sent to a Wayback target: captures of a collection that opted out (`--wayback no`), and, for
the public Internet Archive, URLs reachable only because LASTSEEN_ALLOW_NETWORKS lets the net guard through to
a private or loopback address (an intranet page's URL must not leave the building, not even in a lookup).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.config import Settings
from archive.models import Collection, Source
from archive.net.guard import BlockedURL, check_public_url
from archive.wayback.client import WaybackTarget
from archive.wayback.ia import InternetArchive


def private_only(url: str, settings: Settings) -> bool:
    """True when the URL's host is, or resolves to, a non-public address: reached only through allow_networks."""
    if not settings.allow_networks:
        return False  # nothing private was let through, so nothing private was captured
    try:
        check_public_url(url, ())
    except BlockedURL:
        return True
    return False


PRIVATE = "a private address reached only through LASTSEEN_ALLOW_NETWORKS: never sent to a public archive"


def kept_from(client: WaybackTarget, url: str, settings: Settings) -> bool:
    """True when the URL must not reach this target: a private-only URL and the public Internet Archive."""
    return isinstance(client, InternetArchive) and private_only(url, settings)


def withheld(session: Session, source_id: int, url: str, settings: Settings, client: WaybackTarget) -> str | None:
    """Why this source's URL is not sent to the target, or None when it may be."""
    collection, wayback = session.execute(select(Collection.name, Collection.wayback).join(Source)
                                          .where(Source.id == source_id)).one()
    if not wayback:
        return f"collection {collection!r} does not send to Wayback (lastseen collection {collection} --wayback no)"
    if kept_from(client, url, settings):
        return PRIVATE
    return None
