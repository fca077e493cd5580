"""The dashboard's HTML: whole pages rendered from the Jinja2 templates in archive/api/templates/, autoescaped
(every value is escaped unless it is Markup made here: the inline SVG charts and the controls' fragment); no
scripts, no CDN. Pure rendering of what archive.api.dashboard read, from the same report functions as the CLI and
the JSON API, so all three say the same.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from archive.api.charts import bar_chart, check_timeline, day_buckets
from archive.models import SOURCE_STATUSES, Check, Collection, Source, StatusTransition
from archive.research.search import MARK
from archive.research.titles import SourceTitle
from archive.timefmt import iso
from archive.vocab import SourceStatus

TEMPLATES = Path(__file__).with_name("templates")
CSS = (TEMPLATES / "dashboard.css").read_text(encoding="utf-8")

# What every dashboard page is sent with: scripts from nowhere (the pages have none), the one inline style sheet
# by its hash, forms to this server only, never framed, and the page's address kept on this site.
PAGE_HEADERS = {
    "Content-Security-Policy": (f"default-src 'self'; script-src 'none'; style-src "
                                f"'sha256-{base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()}'; "
                                "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

# A collection page's count cards: every status of archive.vocab, in its order, with `new` last.
STATUS_CARDS = tuple(sorted(SOURCE_STATUSES, key=lambda status: status == SourceStatus.NEW))
# The moments a source's page lists, as (label, key of its report detail).
MOMENTS = (("added", "added_at"), ("first seen", "first_seen_at"), ("last seen alive", "last_seen_alive_at"),
           ("vanished", "vanished_at"), ("last checked", "last_checked_at"), ("next check", "next_check_at"))
RECENT_CHECKS = 50
TRANSCRIPT_LINES = 500  # lines of a video's transcript on its page; all of them: /api/sources/ID/transcript


def _isotext(value: datetime | str) -> str:
    return (iso(value) or "") if isinstance(value, datetime) else str(value)


def _clock(seconds: float) -> str:
    """A second of a video as people write it: 0:07, 1:02:03."""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def marked(snippet: str) -> Markup:
    """A search snippet escaped, its matched words (between the search's MARKs) in <mark>."""
    parts = str(snippet).split(MARK)
    if len(parts) % 2 == 0:  # an unpaired MARK is the text's own: leave it as written
        parts[-2:] = [parts[-2] + MARK + parts[-1]]
    return Markup("").join(Markup("<mark>{}</mark>").format(part) if index % 2 else Markup.escape(part)
                           for index, part in enumerate(parts))


def diff_lines(diff: Sequence[str]) -> list[tuple[str, str]]:
    """A unified diff's lines (after its two file lines) as (class, text): added, removed, hunk or same."""
    kinds = {"+": "added", "-": "removed", "@": "hunk"}
    return [(kinds.get(line[:1], "same"), line) for line in diff[2:]]


def _environment() -> Environment:
    """The templates' environment: autoescape on for every template, a missing value is an error, not ''."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(isotext=_isotext, pathpart=lambda value: quote(str(value), safe=""), query=urlencode,
                       marked=marked, clock=_clock)
    return env


_ENV = _environment()


def render(template: str, title: str, **context: Any) -> str:
    """A whole page from a template extending base.html, under this title."""
    return _ENV.get_template(template).render(title=title, css=Markup(CSS), **context)


def fragment(template: str, **context: Any) -> Markup:
    """A piece of a page (no base.html), safe to place in another template as it is."""
    return Markup(_ENV.get_template(template).render(**context))


@dataclass(frozen=True)
class CollectionView:
    """What a collection's page shows: its counts, when its sources vanished, and one page of its sources."""

    collection: Collection
    counts: dict[str, Any]
    status: str | None  # the status the table is filtered by
    vanishings: dict[date, int]  # the collection's vanishings per day
    sources: list[Source]
    more: bool  # whether a next page follows
    captures: dict[int, int]  # source id -> its newest capture id
    wayback: dict[int, str]  # source id -> its best Wayback copy
    titles: dict[int, SourceTitle] = field(default_factory=dict)  # source id -> its title, where known
    timeline: str = ""  # the collection's timeline chart (archive.research.chart), an SVG


@dataclass(frozen=True)
class SourceView:
    """What a source's page shows: its report detail, its checks (oldest first), transitions, best Wayback copy."""

    source: Source
    detail: dict[str, Any]
    checks: list[Check]
    transitions: list[StatusTransition]
    wayback_copy: str | None
    screenshot: bool = False  # whether a screenshot of a capture is stored (shown beside the timeline)
    controls: str = ""  # the watch-list facts and buttons (archive.api.controls), a fragment
    title: SourceTitle | None = None
    words: dict[str, Any] | None = None  # a video's readings and lines (archive.words.show.words_of)
    start: float | None = None  # the second the video plays from (a transcript line's link)


def index_page(collections: Sequence[dict[str, Any]], *, signed_in: bool) -> str:
    """The list of collections the caller may read."""
    return render("index.html", "Collections", collections=collections, signed_in=signed_in,
                  statuses=SOURCE_STATUSES)


def collection_page(view: CollectionView) -> str:
    """A collection: counts by status, its timeline, vanishings over time, and a page of its sources."""
    name_q = quote(view.collection.name, safe="")
    next_page = None
    if view.more:
        params = {"after": str(view.sources[-1].id), **({"status": view.status} if view.status else {})}
        next_page = f"/collections/{name_q}?" + urlencode(params)
    chart = bar_chart(day_buckets(view.vanishings), title="vanishings over time", empty="no source has vanished yet")
    return render("collection.html", view.collection.name, collection=view.collection, counts=view.counts,
                  cards=STATUS_CARDS, statuses=SOURCE_STATUSES, sources=view.sources, captures=view.captures,
                  wayback=view.wayback, titles=view.titles, chart=Markup(chart), timeline=Markup(view.timeline),
                  next_page=next_page)


def source_page(view: SourceView) -> str:
    """One source: status, the check history as a timeline, transitions, captures and copies elsewhere."""
    source = view.source
    title = view.title.title if view.title and view.title.title else source.normalized_url
    return render("source.html", title, source=source, detail=view.detail, title_of=view.title,
                  url_q=quote(source.normalized_url, safe=":/?#[]@!$&'()*+,;=%~"), moments=MOMENTS,
                  controls=Markup(view.controls), wayback_copy=view.wayback_copy, screenshot=view.screenshot,
                  timeline=Markup(check_timeline(view.checks, view.transitions)),
                  recent_checks=list(reversed(view.checks[-RECENT_CHECKS:])), words=view.words,
                  transcript_lines=TRANSCRIPT_LINES, start=view.start)


def login_page(error: str | None = None, next_url: str = "/") -> str:
    """A form to paste an API token into; it is kept in an HttpOnly cookie for reading pages."""
    return render("login.html", "Sign in", error=error, next_url=next_url)


def search_page(query: str, hits: Sequence[dict[str, Any]], *, collection: str | None, limit: int,
                note: str | None = None) -> str:
    """The hits of a search, best first: title, where it was found, the snippet, a link to its capture; `note`
    says why a query had nothing to look for, or that the hits are the best of the first matches only."""
    return render("search.html", f"search: {query}" if query else "search", query=query, hits=hits,
                  collection=collection, limit=limit, note=note)


def diff_page(source: Source, title: SourceTitle | None, diff: dict[str, Any], *, start: str, end: str) -> str:
    """What changed in a page between two captures: which captures, and their main text's diff."""
    name = title.title if title and title.title else source.normalized_url
    return render("diff.html", f"what changed: {name}", source=source, name=name, diff=diff, start=start, end=end,
                  lines=diff_lines(diff["diff"]))


def error_page(heading: str, message: str) -> str:
    """A page saying in one line what was wrong with what was asked (bad input, nothing found)."""
    return render("error.html", heading, heading=heading, message=message)
