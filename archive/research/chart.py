"""A collection's timeline as one SVG chart: a lane per source coloured by its state along time (alive, returned,
vanished, geo-blocked, could not tell), each vanishing marked with a red triangle.

Past `max_lanes` sources the chart stays readable (and bounded in size) by grouping: one lane per pattern of
states the sources went through ("alive → vanished → returned"), labelled with how many sources followed it and
drawn as the share of them in each state along time, with the group's vanishings marked per stretch of time;
patterns beyond the lanes are summed up in one last lane.

Pure: timeline data in, SVG text out (no I/O, no scripts, colours as attributes so the SVG reads the same inside
the dashboard and standing alone in a dossier). The data is what archive.research.timeline.collection_timeline
answers (the JSON of GET /api/collections/{name}/timeline): {"as_of": ISO, "sources": [{"id", "url", "title",
"intervals": [{"state", "start", "end"}], "events": [{"at", "to", "reason"}], "first_known": {"at"} | None}]}.

    svg = timeline_chart(collection_timeline(name, facts, moment), href="/sources/{id}")
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from archive.research.facts import parse_iso
from archive.research.timeline import GEO_BLOCKED, NOT_YET, ONLINE, RETURNED, UNKNOWN, VANISHED

MAX_LANES = 40
BINS = 60  # columns of a grouped lane
# Each drawn state: its colour and its name in the legend, in the order lanes stack them.
COLOURS = {ONLINE: ("#2e7d32", "alive"), RETURNED: ("#1565c0", "returned"), GEO_BLOCKED: ("#8e24aa", "geo-blocked"),
           UNKNOWN: ("#b0b8c1", "could not tell"), VANISHED: ("#c62828", "vanished")}
LABEL_W, LANE_H, GAP, TOP, BOTTOM = 250, 16, 4, 30, 24
_MARK = "#c62828"


@dataclass(frozen=True)
class Segment:
    """A stretch of one source's time in one state."""

    state: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Lane:
    """One source's segments and vanishings, and how it is named."""

    id: int | None
    label: str
    segments: tuple[Segment, ...]
    vanishings: tuple[tuple[datetime, str], ...]  # (when, why)

    @property
    def pattern(self) -> tuple[str, ...]:
        """The states it went through, in order, "could not tell" before a first verdict left out (its group when
        sources are grouped)."""
        states: list[str] = []
        for segment in self.segments:
            if not states or states[-1] != segment.state:
                states.append(segment.state)
        return tuple(states[1:] if len(states) > 1 and states[0] == UNKNOWN else states)


def _moment(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) or value is None else parse_iso(str(value))


def lane_of(source: Mapping[str, Any], as_of: datetime) -> Lane:
    """A source's lane from its timeline: "could not tell" from when it was first known (or added, with no
    verdict yet) until the first verdict, then its intervals (an open one ends at `as_of`)."""
    segments = []
    for interval in source.get("intervals") or []:
        start, end = _moment(interval["start"]), _moment(interval.get("end")) or as_of
        if start is not None and start <= as_of and interval["state"] != NOT_YET:
            segments.append(Segment(interval["state"], start, min(end, as_of)))
    known = _moment((source.get("first_known") or {}).get("at"))
    if not segments and source.get("state") == UNKNOWN:  # no verdict yet: could not tell since it was added
        known = min(at for at in (known, _moment(source.get("since")), as_of) if at is not None)
    if known is not None and known < (segments[0].start if segments else as_of):
        segments.insert(0, Segment(UNKNOWN, known, segments[0].start if segments else as_of))
    vanishings = tuple((at, str(event.get("reason") or "")) for event in source.get("events") or []
                       if event.get("to") == VANISHED and (at := _moment(event.get("at"))) is not None and at <= as_of)
    label = str(source.get("title") or source.get("url") or f"source {source.get('id')}")
    return Lane(source.get("id"), label, tuple(segments), vanishings)


class _Scale:
    """Times to x positions across the plot."""

    def __init__(self, first: datetime, last: datetime, width: int) -> None:
        self.first, self.span = first, max((last - first).total_seconds(), 1.0)
        self.left, self.plot_w = LABEL_W, width - LABEL_W - 10

    def x(self, moment: datetime) -> float:
        return self.left + self.plot_w * max(0.0, (moment - self.first).total_seconds()) / self.span

    def moment(self, x: float) -> datetime:
        return self.first + timedelta(seconds=self.span * (x - self.left) / self.plot_w)


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _source_lane(lane: Lane, y: float, scale: _Scale, href: str | None) -> str:
    """One source's lane: its label, a rect per segment, a triangle per vanishing."""
    parts = [f"<g class='lane' data-source='{lane.id}'>"]
    label = f"<text class='label' x='4' y='{y + LANE_H - 4:.0f}' font-size='11' fill='#1d232a'>" \
            f"<title>{escape(lane.label)}</title>{escape(_short(lane.label))}</text>"
    if href and lane.id is not None:
        label = f"<a href='{escape(href.format(id=lane.id), quote=True)}'>{label}</a>"
    parts.append(label)
    for segment in lane.segments:
        x0, x1 = scale.x(segment.start), scale.x(segment.end)
        parts.append(f"<rect class='segment' data-state='{escape(segment.state)}' x='{x0:.1f}' y='{y:.0f}' "
                     f"width='{max(x1 - x0, 1.0):.1f}' height='{LANE_H}' fill='{COLOURS[segment.state][0]}'>"
                     f"<title>{escape(COLOURS[segment.state][1])} from {segment.start:%Y-%m-%d %H:%M} to "
                     f"{segment.end:%Y-%m-%d %H:%M}</title></rect>")
    for at, why in lane.vanishings:
        parts.append(_triangle(scale.x(at), y, f"vanished {at:%Y-%m-%d %H:%M}" + (f": {why}" if why else "")))
    parts.append("</g>")
    return "".join(parts)


def _triangle(x: float, y: float, text: str, count: int = 1, kind: str = "vanishing") -> str:
    return (f"<path class='{kind}' data-count='{count}' d='M{x - 5:.1f} {y - 3:.0f}h10l-5 8z' fill='{_MARK}' "
            f"stroke='#fff' stroke-width='0.8'><title>{escape(text)}</title></path>")


def _column_states(lane: Lane, moments: Sequence[datetime]) -> list[str | None]:
    """The lane's state at each of these moments (in time order), in one sweep of its segments."""
    states: list[str | None] = []
    index = 0
    for moment in moments:
        while index < len(lane.segments) and lane.segments[index].end < moment:
            index += 1
        segment = lane.segments[index] if index < len(lane.segments) else None
        states.append(segment.state if segment is not None and segment.start <= moment else None)
    return states


def _group_lane(name: str, lanes: Sequence[Lane], y: float, scale: _Scale) -> str:
    """A group's lane: per column of time, the share of its sources in each state, and its vanishings counted."""
    parts = [f"<g class='lane group' data-sources='{len(lanes)}'>",
             f"<text class='label' x='4' y='{y + LANE_H - 4:.0f}' font-size='11' fill='#1d232a'>"
             f"<title>{escape(name)}: {len(lanes)} sources</title>{escape(_short(name, 32))} ({len(lanes)})</text>"]
    step = scale.plot_w / BINS
    moments = [scale.moment(scale.left + (i + .5) * step) for i in range(BINS)]
    columns: list[Counter[str]] = [Counter() for _ in range(BINS)]
    for lane in lanes:
        for column, state in zip(columns, _column_states(lane, moments), strict=True):
            if state is not None:
                column[state] += 1
    start = 0
    for i in range(1, BINS + 1):
        if i < BINS and columns[i] == columns[start]:
            continue
        parts.append(_stack(columns[start], len(lanes), scale.left + start * step, (i - start) * step, y))
        start = i
    marks: Counter[int] = Counter()
    for lane in lanes:
        for at, _ in lane.vanishings:
            marks[min(BINS - 1, int((scale.x(at) - scale.left) / step))] += 1
    for column, count in sorted(marks.items()):
        moment = scale.moment(scale.left + (column + .5) * step)
        parts.append(_triangle(scale.left + (column + .5) * step, y,
                               f"{count} vanishing(s) around {moment:%Y-%m-%d}", count))
    parts.append("</g>")
    return "".join(parts)


def _stack(counts: Counter[str], total: int, x: float, width: float, y: float) -> str:
    """One stretch of a group's lane: a band per state, as tall as its share of the group."""
    parts, offset = [], 0.0
    for state, (colour, name) in COLOURS.items():
        if counts[state]:
            height = LANE_H * counts[state] / total
            parts.append(f"<rect class='segment' data-state='{state}' x='{x:.1f}' y='{y + offset:.1f}' "
                         f"width='{width:.1f}' height='{height:.1f}' fill='{colour}'>"
                         f"<title>{counts[state]} {escape(name)}</title></rect>")
            offset += height
    return "".join(parts)


def _groups(lanes: Sequence[Lane], max_lanes: int) -> list[tuple[str, list[Lane]]]:
    """Lanes grouped by their pattern of states, the largest groups first; the rest in one last group."""
    by_pattern: dict[tuple[str, ...], list[Lane]] = {}
    for lane in lanes:
        by_pattern.setdefault(lane.pattern, []).append(lane)
    ranked = sorted(by_pattern.items(), key=lambda item: (-len(item[1]), item[0]))
    named = [(" → ".join(COLOURS[s][1] for s in pattern) or "no verdict yet", members)
             for pattern, members in ranked]
    if len(named) <= max_lanes:
        return named
    rest = [lane for _, members in named[max_lanes - 1:] for lane in members]
    return named[:max_lanes - 1] + [(f"{len(named) - max_lanes + 1} other patterns", rest)]


def _axis(scale: _Scale, first: datetime, last: datetime, bottom: float) -> str:
    parts = [f"<line x1='{scale.left}' y1='{bottom}' x2='{scale.left + scale.plot_w}' y2='{bottom}' "
             "stroke='#9aa3ad'/>"]
    for moment, anchor in ((first, "start"), (scale.moment(scale.left + scale.plot_w / 2), "middle"),
                           (last, "end")):
        parts.append(f"<text x='{scale.x(moment):.1f}' y='{bottom + 14}' text-anchor='{anchor}' font-size='11' "
                     f"fill='#5b6470'>{moment:%Y-%m-%d}</text>")
    return "".join(parts)


def _legend(width: int) -> str:
    parts, x = [], LABEL_W
    for colour, name in COLOURS.values():
        parts.append(f"<rect x='{x}' y='8' width='12' height='12' fill='{colour}'/>"
                     f"<text x='{x + 16}' y='18' font-size='11' fill='#5b6470'>{escape(name)}</text>")
        x += 24 + 7 * len(name)
    return "".join(parts) + _triangle(min(x + 6, width - 60), 11, "a vanishing", 0, "legend") + \
        f"<text x='{min(x + 16, width - 50)}' y='18' font-size='11' fill='#5b6470'>a vanishing</text>"


def timeline_chart(timeline: Mapping[str, Any], *, max_lanes: int = MAX_LANES, width: int = 900,
                   href: str | None = None, title: str = "timeline of the collection") -> str:
    """The SVG chart of a collection's timeline (see the module's doc for the data): a lane per source, or per
    group of sources past `max_lanes`; `href` ("/sources/{id}") makes each source's label a link."""
    as_of = _moment(timeline.get("as_of")) or max((_moment(s.get("since")) for s in timeline.get("sources", [])
                                                   if s.get("since")), default=None)
    lanes = [lane_of(source, as_of) for source in timeline.get("sources", [])] if as_of else []
    starts = [segment.start for lane in lanes for segment in lane.segments]
    grouped = len(lanes) > max_lanes
    rows: Sequence[Any] = _groups(lanes, max_lanes) if grouped else lanes
    height = TOP + max(len(rows), 1) * (LANE_H + GAP) + BOTTOM
    head = (f"<svg class='timeline-chart' role='img' aria-label='{escape(title, quote=True)}' width='{width}' "
            f"height='{height}' viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg' "
            f"data-lanes='{len(rows)}' data-sources='{len(lanes)}' data-grouped='{str(grouped).lower()}'>"
            f"<title>{escape(title)}</title><rect width='{width}' height='{height}' fill='#fff'/>{_legend(width)}")
    if not starts or as_of is None:
        empty = f"<text x='{LABEL_W}' y='{TOP + 12}' font-size='12' fill='#5b6470'>no status known yet</text>"
        return f"{head}{empty}</svg>"
    first = min(starts)
    scale = _Scale(first, as_of, width)
    parts = [head]
    for index, row in enumerate(rows):
        y = TOP + index * (LANE_H + GAP)
        parts.append(_group_lane(row[0], row[1], y, scale) if grouped else _source_lane(row, y, scale, href))
    parts.append(_axis(scale, first, as_of, height - BOTTOM + 2) + "</svg>")
    return "".join(parts)
