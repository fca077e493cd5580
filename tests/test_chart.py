"""The collection timeline chart (archive.research.chart): a lane per source for a small collection, grouped and
bounded for 1,000 sources, vanishings marked, every text escaped; drawn from the timeline's own facts."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from archive.research.chart import MAX_LANES, timeline_chart
from archive.research.facts import CheckFact, Evidence, SourceFacts, TransitionFact
from archive.research.timeline import collection_timeline

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NS = "{http://www.w3.org/2000/svg}"


def _source(index: int, steps: list[tuple[int, str, str]], title: str | None = None) -> SourceFacts:
    """A source with its status transitions at T0 + day, from -> to."""
    facts = SourceFacts(id=index, url=f"https://news.example/{index}", kind="page", title=title,
                        added_at=T0, evidence=[Evidence(T0 - timedelta(days=2), "published", "2026-02-27", True)])
    for day, old, new in steps:
        facts.transitions.append(TransitionFact(T0 + timedelta(days=day), "status", old, new, "gone"))
        facts.checks.append(CheckFact(T0 + timedelta(days=day), "ok" if new != "vanished" else "gone"))
    return facts.sort()


def _svg(facts: list[SourceFacts], **kwargs: object) -> ET.Element:
    text = timeline_chart(collection_timeline("flood", facts, T0 + timedelta(days=20)), **kwargs)
    return ET.fromstring(text)


def _lanes(svg: ET.Element) -> list[ET.Element]:
    return [g for g in svg.iter(f"{NS}g") if "lane" in g.get("class", "").split()]


def test_one_lane_per_source_coloured_by_state_with_vanishings_marked() -> None:
    facts = [_source(1, [(0, "new", "alive")]),
             _source(2, [(0, "new", "alive"), (5, "alive", "vanished")], title="Mayor <script>alert(1)</script>"),
             _source(3, [(0, "new", "alive"), (3, "alive", "vanished"), (9, "vanished", "returned")]),
             _source(4, [])]
    svg = _svg(facts, href="/sources/{id}")
    lanes = _lanes(svg)
    assert [lane.get("data-source") for lane in lanes] == ["1", "2", "3", "4"]
    states = [[rect.get("data-state") for rect in lane.iter(f"{NS}rect")] for lane in lanes]
    assert states == [["unknown", "alive"], ["unknown", "alive", "vanished"],
                      ["unknown", "alive", "vanished", "returned"], ["unknown"]]
    marks = [len(list(lane.iter(f"{NS}path"))) for lane in lanes]
    assert marks == [0, 1, 1, 0], "each vanishing is marked on its source's lane"
    xs = [float(rect.get("x")) for rect in lanes[2].iter(f"{NS}rect")]
    assert xs == sorted(xs) and xs[0] < xs[-1], "segments follow time"
    link = lanes[0].find(f"{NS}a")
    assert link is not None and link.get("href") == "/sources/1"
    assert "Mayor <script>" in "".join(lanes[1].itertext()), "the title is shown as text"


def test_a_hostile_title_is_escaped_in_the_svg_text() -> None:
    text = timeline_chart(collection_timeline("flood", [_source(1, [(0, "new", "alive")],
                                                                title="<script>x</script>' onload='y")], T0))
    assert "<script>" not in text and "&lt;script&gt;" in text and "' onload='" not in text


def test_a_thousand_sources_are_grouped_into_bounded_lanes() -> None:
    rng = random.Random(7)
    facts = []
    for index in range(1, 1001):
        gone, back = rng.randint(1, 15), rng.randint(16, 19)
        kind = index % 4
        steps = [(0, "new", "alive")]
        if kind >= 1:
            steps.append((gone, "alive", "vanished"))
        if kind == 2:
            steps.append((back, "vanished", "returned"))
        facts.append(_source(index, steps))
    text = timeline_chart(collection_timeline("flood", facts, T0 + timedelta(days=20)))
    svg = ET.fromstring(text)
    lanes = _lanes(svg)
    assert svg.get("data-grouped") == "true" and 1 < len(lanes) <= MAX_LANES
    assert sum(int(lane.get("data-sources")) for lane in lanes) == 1000, "every source is counted in a group"
    assert len(text) < 200_000 and len(list(svg.iter())) < 5000, "the chart's size does not grow with the sources"
    labels = ["".join(lane.find(f"{NS}text").itertext()) for lane in lanes]
    assert any(re.search(r"alive → vanished → returned.*\(250\)", label) for label in labels), labels
    vanishings = sum(int(mark.get("data-count")) for lane in lanes for mark in lane.iter(f"{NS}path"))
    assert vanishings == 750, "every vanishing is counted in its group's marks"
    assert _lanes(_svg(facts[:MAX_LANES])) and len(_lanes(_svg(facts[:MAX_LANES]))) == MAX_LANES


def test_many_patterns_fold_into_one_last_lane() -> None:
    facts = [_source(i, [(0, "new", "alive")] + [(d, "alive" if d % 2 else "vanished",
                                                  "vanished" if d % 2 else "alive") for d in range(1, i % 60 + 2)])
             for i in range(1, 301)]
    lanes = _lanes(_svg(facts, max_lanes=10))
    assert len(lanes) == 10 and sum(int(lane.get("data-sources")) for lane in lanes) == 300
    assert "other patterns" in "".join(lanes[-1].itertext())


def test_nothing_known_yet_is_said() -> None:
    text = timeline_chart({"as_of": None, "sources": []})
    assert "no status known yet" in text and ET.fromstring(text).get("data-lanes") == "0"
