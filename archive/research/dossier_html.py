"""An evidence dossier as one self-contained HTML file: inline CSS, screenshots as data: URIs, the timeline chart
as inline SVG, no script, and a Content-Security-Policy that lets a browser fetch nothing at all.

Rendered from a Jinja2 template (templates/dossier.html.j2) with autoescaping: every title, URL and quoted line
comes from pages and providers and is shown as text, never run.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from archive.research.chart import COLOURS, timeline_chart
from archive.research.dossier import Dossier
from archive.timefmt import iso

TEMPLATES = Path(__file__).with_name("templates")
# A status's colour, as the chart draws its state (a status that says nothing is "could not tell")
STATUS_COLOURS = {state: colour for state, (colour, _) in COLOURS.items()}
# Lanes of the chart, one per source up to this many; past it, a lane per pattern of states
CHART_LANES = 100


def render_html(dossier: Dossier, *, version: str, operator: str) -> str:
    """The dossier's HTML, whole."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = clock
    template = env.get_template("dossier.html.j2")
    chart = timeline_chart({"as_of": iso(dossier.made_at), "sources": dossier.timelines}, max_lanes=CHART_LANES,
                           width=940, href="#source-{id}", title=f"timeline of {dossier.collection['name']}")
    return template.render(d=dossier, version=version, operator=operator, colours=STATUS_COLOURS,
                           chart=Markup(chart))  # the chart escapes what it draws


def clock(second: float | None) -> str:
    """A second of a video as 1:02.5, as a quote cites it."""
    if second is None:
        return ""
    minutes, rest = divmod(float(second), 60)
    return f"{int(minutes)}:{rest:04.1f}"
