"""An evidence dossier as one self-contained HTML file: inline CSS, screenshots as data: URIs, the timeline chart
as inline SVG, no script, and a Content-Security-Policy that lets a browser fetch nothing at all.

Rendered from a Jinja2 template (templates/dossier.html.j2) with autoescaping: every title, URL and quoted line
comes from pages and providers and is shown as text, never run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from archive.research.dossier import Dossier
from archive.research.facts import parse_iso

TEMPLATES = Path(__file__).with_name("templates")
STATE_COLOURS = {"alive": "#2e7d32", "returned": "#1565c0", "vanished": "#c62828", "geo_blocked": "#ef6c00",
                 "unknown": "#9e9e9e"}
_LANE, _LABEL, _WIDTH = 16, 260, 940


def render_html(dossier: Dossier, *, version: str, operator: str) -> str:
    """The dossier's HTML, whole."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = clock
    template = env.get_template("dossier.html.j2")
    return template.render(d=dossier, version=version, operator=operator, colours=STATE_COLOURS,
                           chart=timeline_chart(dossier.timelines, dossier.made_at))


def clock(second: float | None) -> str:
    """A second of a video as 1:02.5, as a quote cites it."""
    if second is None:
        return ""
    minutes, rest = divmod(float(second), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def timeline_chart(timelines: list[dict[str, Any]], now: datetime) -> Markup:
    """One lane per source coloured by its state over time, each vanishing marked with a red triangle."""
    starts = [parse_iso(i["start"]) for t in timelines for i in t["intervals"]]
    first = min(starts, default=now - timedelta(days=1))
    span = max((now - first).total_seconds(), 3600.0)
    width = _WIDTH - _LABEL - 10

    def x(moment: datetime) -> float:
        return round(_LABEL + width * min(max((moment - first).total_seconds() / span, 0.0), 1.0), 1)

    height = _LANE * len(timelines) + 30
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
             f'viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="timeline of the sources">']
    for row, item in enumerate(timelines):
        y = 4 + row * _LANE
        label = escape((item["title"] or item["url"])[:48])
        parts.append(f'<text x="{_LABEL - 6}" y="{y + 11}" text-anchor="end" font-size="11">{label}</text>')
        for interval in item["intervals"]:
            start = parse_iso(interval["start"])
            end = parse_iso(interval["end"]) if interval["end"] else now
            colour = STATE_COLOURS.get(interval["state"], STATE_COLOURS["unknown"])
            parts.append(f'<rect class="lane state-{escape(interval["state"])}" x="{x(start)}" y="{y}" '
                         f'width="{max(x(end) - x(start), 1.0)}" height="{_LANE - 4}" fill="{colour}">'
                         f'<title>{escape(interval["state"])} {interval["start"]} to {interval["end"] or "now"}'
                         f'</title></rect>')
            if interval["state"] == "vanished":
                mark = x(start)
                parts.append(f'<path class="vanishing" d="M{mark - 5},{y - 3} L{mark + 5},{y - 3} L{mark},{y + 5} Z" '
                             f'fill="{STATE_COLOURS["vanished"]}" stroke="#fff" stroke-width="0.5"/>')
    base = 4 + len(timelines) * _LANE + 14
    parts.append(f'<text x="{_LABEL}" y="{base}" font-size="11">{first:%Y-%m-%d %H:%M} UTC</text>')
    parts.append(f'<text x="{_WIDTH - 10}" y="{base}" font-size="11" text-anchor="end">{now:%Y-%m-%d %H:%M} UTC'
                 '</text></svg>')
    return Markup("".join(parts))
