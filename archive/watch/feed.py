"""The Atom feed of a collection: its alerting transitions, newest first, with links to the copies."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import __version__
from archive.models import Collection, Source, StatusTransition
from archive.watch.alerts import alerting, capture_url, describe, headline, transition_payload

FEED_LIMIT = 100
ATOM = "http://www.w3.org/2005/Atom"
# Where the API serves the feed; its self link is built on Settings.public_url with it.
FEED_PATH = "/api/collections/{name}/feed.atom"

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class UnknownCollection(LookupError):
    """The named collection does not exist."""


def _xml(text: str | None) -> str:
    """Text that XML 1.0 can hold (control characters dropped)."""
    return _NOT_XML.sub("", text or "")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """A child element with XML-safe text and attributes."""
    element = ET.SubElement(parent, tag, {k: _xml(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _xml(text)
    return element


def _atom_time(value: datetime) -> str:
    """RFC 3339 in UTC, as Atom wants it."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def feed_entries(session: Session, collection_name: str, limit: int = FEED_LIMIT) -> tuple[Collection, list[Any]]:
    """The collection and its newest alerting transitions (transition, payload), newest first."""
    collection = session.scalar(select(Collection).where(Collection.name == collection_name))
    if collection is None:
        raise UnknownCollection(f"no collection named {collection_name!r}")
    rows = session.execute(
        select(StatusTransition, Source).join(Source, Source.id == StatusTransition.source_id)
        .join(Collection, Collection.id == Source.collection_id)
        .where(Source.collection_id == collection.id, alerting())
        .order_by(StatusTransition.at.desc(), StatusTransition.id.desc()).limit(limit)).all()
    return collection, [(t, transition_payload(session, t, s, collection)) for t, s in rows]


def collection_feed(session: Session, collection_name: str, base_url: str | None = None) -> bytes:
    """Atom XML of a collection's alerts (vanished, returned, changed if asked), newest first."""
    collection, entries = feed_entries(session, collection_name)
    tag = f"tag:lastseen,{collection.created_at:%Y-%m-%d}:collection/{quote(collection.name, safe='')}"
    feed = ET.Element("feed", xmlns=ATOM)
    _sub(feed, "id", tag)
    _sub(feed, "title", f"lastseen: {collection.name}")
    if collection.description:
        _sub(feed, "subtitle", collection.description)
    newest = entries[0][0].at if entries else collection.created_at
    _sub(feed, "updated", _atom_time(newest))
    _sub(_sub(feed, "author"), "name", "lastseen")
    _sub(feed, "generator", "lastseen", version=__version__)
    if base_url:
        _sub(feed, "link", rel="self", type="application/atom+xml",
             href=base_url.rstrip("/") + FEED_PATH.format(name=quote(collection.name, safe="")))
    for transition, payload in entries:
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"{tag}/transition/{transition.id}")
        _sub(entry, "title", headline(payload))
        _sub(entry, "updated", _atom_time(transition.at))
        _sub(entry, "published", _atom_time(transition.at))
        _sub(entry, "link", rel="alternate", href=payload["url"])
        if payload["wayback_url"]:
            _sub(entry, "link", rel="related", title="Wayback Machine copy", href=payload["wayback_url"])
        own = capture_url(payload, base_url)
        if own:
            _sub(entry, "link", rel="related", title="lastseen capture", href=own)
        _sub(entry, "category", term=str(payload["kind"]))
        _sub(entry, "summary", "\n".join(describe(payload, base_url)), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"
