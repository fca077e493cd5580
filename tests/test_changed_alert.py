"""A `changed` alert says which page (its title) and what changed in it (the edited sentence), worked out from
the page's last capture read back from its WARC record and the text the check found, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from archive.config import Settings
from archive.db import session_scope
from archive.extract.pagemeta import extract_page_metadata, text_sha256
from archive.models import Alert
from archive.sources import ensure_collection
from archive.watch.alerts import create_alerts, describe, headline
from archive.watch.check import check_sources
from archive.workspace import Workspace
from tests.servers.api import add_capture, add_source, store_exchange
from tests.servers.site import Page, Site
from tests.test_checker import STORY

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
EDITED = STORY.replace("three metres", "four metres")


def test_an_edit_makes_one_alert_with_the_title_and_the_edited_sentence(settings: Settings, site: Site) -> None:
    ws = Workspace(settings.replace(host_rate=1000.0))
    try:
        url = site.url("/story")
        record, uri = store_exchange(ws, url, STORY.encode(), when=T0)
        meta = extract_page_metadata(STORY.encode(), url, "text/html; charset=utf-8")
        with session_scope(ws.sessions) as session:
            collection = ensure_collection(session, "valley")
            collection.alert_on_changed = True
            source = add_source(session, collection, url)
            capture = add_capture(session, source, record, uri)
            capture.page_meta = {"title": meta.title, "text_sha256": text_sha256(meta.text or "")}
            source_id, capture_id = source.id, capture.id

        site.set("/story", Page(EDITED))
        for day in (1, 2):  # the second check sees the same change: no second alert
            check_sources(ws, [source_id], now=T0 + timedelta(days=day), timeout=2, rng=random.Random(7))
        with session_scope(ws.sessions) as session:
            assert create_alerts(session) == 1
            assert create_alerts(session) == 0
            [alert] = session.scalars(select(Alert)).all()
            payload = alert.payload
    finally:
        ws.close()

    assert alert.kind == "changed" and payload["title"] == "Flood in the valley"
    change = payload["change"]
    assert change["removed"] == [s for s in change["removed"] if "three metres" in s] and len(change["removed"]) == 1
    assert len(change["added"]) == 1 and "four metres" in change["added"][0]
    assert change["since_capture"]["id"] == capture_id
    text = "\n".join(describe(payload, None))
    assert headline(payload).startswith(f"Changed: {url} «Flood in the valley»")
    assert "1 sentence removed, 1 added: «The river rose four metres overnight" in text, text
