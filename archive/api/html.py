"""The dashboard's HTML: whole pages with small inline SVG charts, no scripts, no CDN; pure rendering.

Pages show what archive.api.dashboard read for them, from the same report functions as the CLI and the JSON API,
so all three say the same.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from archive.models import SOURCE_STATUSES, Check, Collection, Source, StatusTransition
from archive.status import outcome_class
from archive.timefmt import iso
from archive.vocab import SourceStatus

MAX_BUCKETS = 120
_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d2b3a;color:#fff;padding:.6rem 1.5rem}header a{color:#fff;text-decoration:none;font-weight:600}
main{max-width:1100px;margin:0 auto;padding:1rem 1.5rem}h1{font-size:1.5rem;margin:.6rem 0}
a{color:#1c5fb8}table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;color:#5b6470}td.url{word-break:break-all;max-width:420px}
.counts{display:flex;gap:.8rem;flex-wrap:wrap;margin:.8rem 0}
.count{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:.5rem 1rem;min-width:6rem}
.count b{display:block;font-size:1.6rem}.muted{color:#5b6470}
.badge{display:inline-block;border-radius:9px;padding:0 .55rem;font-size:.8rem;font-weight:600;color:#fff}
.status-new{background:#7a8591}.status-alive{background:#2e7d32}.status-unreachable{background:#d08700}
.status-vanished{background:#c62828}.status-returned{background:#1565c0}.status-geo_blocked{background:#8e24aa}
.beside{display:flex;gap:1em;align-items:flex-start;flex-wrap:wrap}
.screenshot{border:1px solid #e3e6ea;border-radius:6px;max-height:400px;object-fit:cover;object-position:top}
.chart,.timeline{background:#fff;border:1px solid #e3e6ea;border-radius:6px;max-width:100%;height:auto}
.bar{fill:#c62828}.axis{stroke:#9aa3ad}.label{font-size:11px;fill:#5b6470}
.check-alive{fill:#2e7d32}.check-transient{fill:#d08700}.check-definitive{fill:#c62828}.check-unknown{fill:#7a8591}
.transition{stroke:#1565c0;stroke-dasharray:3 2}nav.filters a{margin-right:.7rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{color:#5b6470}dd{margin:0}
form.login{background:#fff;padding:1rem;border:1px solid #e3e6ea;border-radius:6px;max-width:480px}
form.login input{width:100%;padding:.4rem;margin:.4rem 0}
"""


# What every dashboard page is sent with: scripts from nowhere (the pages have none), the one inline style sheet
# by its hash, forms to this server only, never framed, and the page's address kept on this site.
PAGE_HEADERS = {
    "Content-Security-Policy": (f"default-src 'self'; script-src 'none'; style-src "
                                f"'sha256-{base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()}'; "
                                "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def page(title: str, body: str) -> str:
    """A whole HTML document."""
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)} - lastseen</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<style>{_CSS}</style></head><body><header><a href='/'>lastseen</a></header>"
            f"<main>{body}</main></body></html>")


def badge(status: str) -> str:
    """A coloured status label."""
    return f"<span class='badge status-{escape(status)}'>{escape(status)}</span>"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "<span class='muted'>-</span>"
    text = iso(value) if isinstance(value, datetime) else value
    return f"<time datetime='{escape(text)}'>{escape(text[:16].replace('T', ' '))}</time>"


def _link(href: str, text: str) -> str:
    return f"<a href='{escape(href, quote=True)}'>{escape(text)}</a>"


# ---------------------------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class Bucket:
    """One bar of a time chart: its start, label and count."""

    start: date
    label: str
    count: int


def _step(granularity: str, day: date) -> date:
    if granularity == "day":
        return day + timedelta(days=1)
    if granularity == "week":
        return day + timedelta(days=7)
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _floor(granularity: str, day: date) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def time_buckets(times: Sequence[datetime]) -> list[Bucket]:
    """Counts per day, week or month (the finest that fits MAX_BUCKETS bars), empty periods included."""
    return day_buckets(Counter(t.astimezone(UTC).date() for t in times))


def day_buckets(per_day: Mapping[date, int]) -> list[Bucket]:
    """Counts given per day, per day, week or month (the finest that fits MAX_BUCKETS bars), empty periods
    included."""
    if not per_day:
        return []
    first, last = min(per_day), max(per_day)
    for granularity in ("day", "week", "month"):
        start, end = _floor(granularity, first), _floor(granularity, last)
        span = (end - start).days // {"day": 1, "week": 7, "month": 28}[granularity]
        if span < MAX_BUCKETS or granularity == "month":
            break
    counts: Counter[date] = Counter()
    for day, count in per_day.items():
        counts[_floor(granularity, day)] += count
    buckets, current = [], start
    while current <= end:
        label = current.strftime("%Y-%m") if granularity == "month" else current.isoformat()
        if granularity == "week":
            label = f"week of {label}"
        buckets.append(Bucket(current, label, counts.get(current, 0)))
        current = _step(granularity, current)
    return buckets


def bar_chart(buckets: Sequence[Bucket], *, title: str, empty: str, width: int = 760, height: int = 200) -> str:
    """An inline SVG bar chart, one labelled bar per bucket."""
    left, bottom, top = 36, 26, 12
    plot_w, plot_h = width - left - 10, height - bottom - top
    parts = [f"<svg class='chart' role='img' aria-label='{escape(title, quote=True)}' width='{width}' "
             f"height='{height}' viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>",
             f"<title>{escape(title)}</title>",
             f"<line class='axis' x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}'/>",
             f"<line class='axis' x1='{left}' y1='{top}' x2='{left}' y2='{top + plot_h}'/>"]
    if not buckets:
        parts.append(f"<text class='label' x='{left + 10}' y='{top + plot_h // 2}'>{escape(empty)}</text></svg>")
        return "".join(parts)
    peak = max(b.count for b in buckets) or 1
    slot = plot_w / len(buckets)
    bar_w = max(1.0, slot * 0.8)
    parts.append(f"<text class='label' x='4' y='{top + 10}'>{peak}</text>"
                 f"<text class='label' x='4' y='{top + plot_h}'>0</text>")
    for index, bucket in enumerate(buckets):
        h = plot_h * bucket.count / peak
        x = left + index * slot + (slot - bar_w) / 2
        parts.append(f"<rect class='bar' data-count='{bucket.count}' x='{x:.1f}' y='{top + plot_h - h:.1f}' "
                     f"width='{bar_w:.1f}' height='{h:.1f}'><title>{escape(bucket.label)}: {bucket.count}</title>"
                     "</rect>")
    for index in sorted({0, len(buckets) // 2, len(buckets) - 1}):
        x = left + index * slot + slot / 2
        anchor = "start" if index == 0 else "end" if index == len(buckets) - 1 else "middle"
        parts.append(f"<text class='label' text-anchor='{anchor}' x='{x:.1f}' y='{height - 8}'>"
                     f"{escape(buckets[index].start.isoformat())}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _outcome_lane(outcome: str) -> str:
    try:
        return outcome_class(outcome).value
    except ValueError:
        return "unknown"


def check_timeline(checks: Sequence[Check], transitions: Sequence[StatusTransition], *, width: int = 760) -> str:
    """An inline SVG timeline of checks, one lane per kind of outcome, with status changes as dashed lines."""
    lanes = ("alive", "transient", "definitive", "unknown")
    left, top, lane_h, bottom = 84, 10, 26, 24
    height = top + lane_h * len(lanes) + bottom
    plot_w = width - left - 14
    parts = [f"<svg class='timeline' role='img' aria-label='check history' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'><title>check history</title>"]
    for index, lane in enumerate(lanes):
        y = top + lane_h * index + lane_h / 2
        parts.append(f"<text class='label' x='4' y='{y + 4:.0f}'>{lane}</text>"
                     f"<line class='axis' x1='{left}' y1='{y:.0f}' x2='{left + plot_w}' y2='{y:.0f}' "
                     "stroke-opacity='0.3'/>")
    moments = [c.checked_at for c in checks] + [t.at for t in transitions]
    if not moments:
        parts.append(f"<text class='label' x='{left}' y='{height - 6}'>not checked yet</text></svg>")
        return "".join(parts)
    first, last = min(moments), max(moments)
    span = max((last - first).total_seconds(), 1.0)

    def x_of(moment: datetime) -> float:
        return left + plot_w * (moment - first).total_seconds() / span if len(moments) > 1 else left + plot_w / 2

    for transition in transitions:
        x = x_of(transition.at)
        parts.append(f"<line class='transition' x1='{x:.1f}' y1='{top}' x2='{x:.1f}' "
                     f"y2='{top + lane_h * len(lanes)}'><title>{escape(iso(transition.at) or '')}: "
                     f"{escape(transition.from_status)} to {escape(transition.to_status)}</title></line>")
    for check in checks:
        lane = _outcome_lane(check.outcome)
        y = top + lane_h * lanes.index(lane) + lane_h / 2
        status = f" HTTP {check.http_status}" if check.http_status else ""
        parts.append(f"<circle class='check check-{lane}' cx='{x_of(check.checked_at):.1f}' cy='{y:.0f}' r='5'>"
                     f"<title>{escape(iso(check.checked_at) or '')}: {escape(check.outcome)}{status}</title></circle>")
    parts.append(f"<text class='label' x='{left}' y='{height - 6}'>{escape(iso(first) or '')}</text>"
                 f"<text class='label' text-anchor='end' x='{left + plot_w}' y='{height - 6}'>"
                 f"{escape(iso(last) or '')}</text></svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------- pages


def index_page(collections: Sequence[dict[str, Any]], *, signed_in: bool) -> str:
    """The list of collections the caller may read."""
    rows = "".join(
        f"<tr><td>{_link('/collections/' + quote(c['name'], safe=''), c['name'])}</td>"
        f"<td>{escape(c['description'] or '')}</td><td>{c['sources']}</td>"
        + "".join(f"<td>{c['by_status'][s]}</td>" for s in SOURCE_STATUSES) + "</tr>"
        for c in collections)
    head = "".join(f"<th>{s}</th>" for s in SOURCE_STATUSES)
    account = ("<form method='post' action='/logout'><button>sign out</button></form>" if signed_in
               else f"<p class='muted'>Only public collections are shown. {_link('/login', 'Sign in with a token')}"
                    " to see the others.</p>")
    table = (f"<table id='collections'><thead><tr><th>collection</th><th>description</th><th>sources</th>{head}"
             f"</tr></thead><tbody>{rows}</tbody></table>" if collections
             else "<p class='muted'>No collection to show.</p>")
    return page("Collections", f"<h1>Collections</h1>{account}{table}")


# A collection page's count cards: every status of archive.vocab, in its order, with `new` last.
STATUS_CARDS = tuple(sorted(SOURCE_STATUSES, key=lambda status: status == SourceStatus.NEW))


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


@dataclass(frozen=True)
class SourceView:
    """What a source's page shows: its report detail, its checks (oldest first), transitions, best Wayback copy."""

    source: Source
    detail: dict[str, Any]
    checks: list[Check]
    transitions: list[StatusTransition]
    wayback_copy: str | None
    screenshot: bool = False  # whether a screenshot of a capture is stored (shown beside the timeline)
    controls: str = ""  # the watch-list facts and buttons (archive.api.controls)


def collection_page(view: CollectionView) -> str:
    """A collection: counts by status, vanishings over time, and a page of its sources."""
    collection, counts, status, sources = view.collection, view.counts, view.status, view.sources
    name_q = quote(collection.name, safe="")
    by_status = counts["by_status"]
    cards = "".join(f"<div class='count' id='count-{s}'><b>{by_status[s]}</b>{badge(s)}</div>"
                    for s in STATUS_CARDS)
    cards += f"<div class='count' id='count-total'><b>{counts['sources']}</b>sources</div>"
    chart = bar_chart(day_buckets(view.vanishings), title="vanishings over time", empty="no source has vanished yet")
    captures, wayback = view.captures, view.wayback
    rows = []
    for source in sources:
        capture = _link(f"/captures/{captures[source.id]}", "archived copy") if source.id in captures else "-"
        copy = _link(wayback[source.id], "Wayback") if source.id in wayback else "-"
        rows.append(f"<tr class='source' data-status='{escape(source.status)}'><td>{badge(source.status)}</td>"
                    f"<td class='url'>{_link(f'/sources/{source.id}', source.normalized_url)}</td>"
                    f"<td>{escape(source.kind)}</td><td>{_when(source.last_seen_alive_at)}</td>"
                    f"<td>{_when(source.vanished_at)}</td><td>{capture}</td><td>{copy}</td></tr>")
    filters = " ".join([_link(f"/collections/{name_q}", "all")] + [
        _link(f"/collections/{name_q}?" + urlencode({"status": s}), s) for s in SOURCE_STATUSES])
    nav = ""
    if view.more:
        params = {"after": str(sources[-1].id), **({"status": status} if status else {})}
        nav = f"<p>{_link(f'/collections/{name_q}?' + urlencode(params), 'next page')}</p>"
    api = " | ".join([_link(f"/api/sources?collection={name_q}", "JSON"),
                      _link(f"/api/sources/export?format=csv&collection={name_q}", "CSV"),
                      _link(f"/api/collections/{name_q}/feed.atom", "Atom feed")])
    public = " <span class='muted'>(public)</span>" if collection.public_read else ""
    body = (f"<h1>{escape(collection.name)}{public}</h1><p>{escape(collection.description or '')}</p>"
            f"<p class='muted'>{api}</p><div class='counts'>{cards}</div><h2>Vanishings over time</h2>{chart}"
            f"<h2>Sources</h2><nav class='filters'>{filters}</nav>"
            "<table id='sources'><thead><tr><th>status</th><th>URL</th><th>kind</th><th>last seen alive</th>"
            f"<th>vanished</th><th>capture</th><th>Wayback</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"{nav}")
    return page(collection.name, body)


def _capture_row(capture: dict[str, Any]) -> str:
    link = _link(f"/captures/{capture['id']}", "archived copy")
    return (f"<tr><td>{_when(capture['captured_at'])}</td><td>{capture['http_status'] or '-'}</td>"
            f"<td>{escape(capture['record_type'])}</td><td>{escape(capture['content_type'] or '-')}</td>"
            f"<td>{link}</td></tr>")


def _screenshot(source_id: int) -> str:
    """The latest screenshot beside the timeline, linking to the full-size PNG."""
    src = f"/sources/{source_id}/screenshot.png"
    return f"<a href='{src}'><img class='screenshot' alt='latest screenshot' src='{src}' width='240'></a>"


def _media_section(video: dict[str, Any] | None) -> str:
    """The video's kept media, played from its capture (served with Range requests), with what identifies it."""
    media = (video or {}).get("media")
    if not media:
        return ""
    src = f"/api/captures/{media['capture_id']}"
    return (f"<h2>Video</h2><video id='media' controls preload='metadata' src='{escape(src, quote=True)}' "
            "style='max-width:100%'></video>"
            f"<p class='muted'>{media['size']} bytes, {escape(media['content_type'] or '-')}, sha256:"
            f"{escape(media['sha256'] or '-')}; {escape(media['record_type'])} record in "
            f"{escape(media['warc_uri'])} @{media['warc_offset']}+{media['warc_length']}</p>")


def _regions_section(regions: list[dict[str, Any]]) -> str:
    """What each region its collection asks for said at its latest check (nothing without regions)."""
    if not regions:
        return ""
    rows = "".join(f"<tr><td>{escape(r['region'])}</td><td>{_when(r['checked_at'])}</td>"
                   f"<td>{escape(r['outcome'] or 'not checked yet')}</td><td>{r['http_status'] or '-'}</td>"
                   f"<td>{escape(r['detail'] or '')}</td></tr>" for r in regions)
    return ("<h2>Regions</h2><table id='regions'><thead><tr><th>region</th><th>checked</th><th>outcome</th>"
            f"<th>HTTP</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table>")


def source_page(view: SourceView) -> str:
    """One source: status, the check history as a timeline, transitions, captures and copies elsewhere."""
    source, detail, checks, transitions = view.source, view.detail, view.checks, view.transitions
    facts = [("status", badge(detail["status"]) + (f" {escape(detail['reason'])}" if detail["reason"] else "")),
             ("collection", _link("/collections/" + quote(detail["collection"], safe=""), detail["collection"])),
             ("kind", escape(detail["kind"])), ("tags", escape(", ".join(detail["tags"])) or "-")]
    facts += [(label, _when(detail[key])) for label, key in (
        ("added", "added_at"), ("first seen", "first_seen_at"), ("last seen alive", "last_seen_alive_at"),
        ("vanished", "vanished_at"), ("last checked", "last_checked_at"), ("next check", "next_check_at"))]
    facts_html = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    transition_rows = "".join(
        f"<tr><td>{_when(t['at'])}</td><td>{badge(t['from'])} &rarr; {badge(t['to'])}</td>"
        f"<td>{escape(t['reason'] or t['kind'])}</td></tr>" for t in detail["transitions"])
    check_rows = "".join(
        f"<tr class='check-row'><td>{_when(c.checked_at)}</td><td>{escape(c.outcome)}</td>"
        f"<td>{c.http_status or '-'}</td><td>{escape(c.detail)}</td></tr>" for c in reversed(checks[-50:]))
    capture_rows = "".join(_capture_row(c) for c in detail["captures"])
    wayback = detail["wayback"]
    copy = view.wayback_copy
    wayback_html = _link(copy, copy) if copy is not None else "none known"
    if wayback["lookup"]:
        wayback_html += (f" <span class='muted'>({wayback['lookup']['count']} copies in the archive, "
                         f"{escape(wayback['lookup']['first_timestamp'] or '?')} to "
                         f"{escape(wayback['lookup']['last_timestamp'] or '?')})</span>")
    url_q = quote(source.normalized_url, safe=":/?#[]@!$&'()*+,;=%~")
    body = (f"<h1 class='url'>{escape(source.normalized_url)}</h1><p>{_link(source.url, 'original URL')} | "
            f"{_link(f'/api/sources/{source.id}', 'JSON')} | {_link(f'/api/timemap/link/{url_q}', 'TimeMap')}</p>"
            f"<dl>{facts_html}</dl>{view.controls}{_regions_section(detail['regions'])}{_media_section(detail['video'])}"
            "<h2>Check history</h2>"
            f"<div class='beside'>{check_timeline(checks, transitions)}"
            f"{_screenshot(source.id) if view.screenshot else ''}</div>"
            "<h2>Status changes</h2><table id='transitions'><thead><tr><th>when</th><th>change</th><th>why</th></tr>"
            f"</thead><tbody>{transition_rows}</tbody></table>"
            "<h2>Captures</h2><table id='captures'><thead><tr><th>captured</th><th>HTTP</th><th>record</th>"
            f"<th>type</th><th></th></tr></thead><tbody>{capture_rows}</tbody></table>"
            f"<h2>Wayback Machine</h2><p>{wayback_html}</p>"
            "<h2>Recent checks</h2><table id='checks'><thead><tr><th>checked</th><th>outcome</th><th>HTTP</th>"
            f"<th>detail</th></tr></thead><tbody>{check_rows}</tbody></table>")
    return page(source.normalized_url, body)


def login_page(error: str | None = None, next_url: str = "/") -> str:
    """A form to paste an API token into; it is kept in an HttpOnly cookie for reading pages."""
    message = f"<p class='badge status-vanished'>{escape(error)}</p>" if error else ""
    hidden = f"<input type='hidden' name='next' value='{escape(next_url, quote=True)}'>"
    return page("Sign in", f"<h1>Sign in</h1>{message}<form class='login' method='post' action='/login'>"
                           "<label for='token'>API token</label><input id='token' name='token' type='password' "
                           f"autocomplete='off'>{hidden}<button type='submit'>Sign in</button></form>")
