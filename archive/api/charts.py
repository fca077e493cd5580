"""The dashboard's small charts as inline SVG (no scripts, no CDN): vanishings per day, week or month as bars, and
a source's checks along time; pure rendering, every text escaped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape

from archive.models import Check, StatusTransition
from archive.status import outcome_class
from archive.timefmt import iso

MAX_BUCKETS = 120



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
