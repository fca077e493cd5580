"""What one check of a source found, and what a run of checks means for its status.

Pure logic: no network, no database. The checker (HTTP fetches), the crawl (yt-dlp errors) and the
scheduler call it. This module is the package's front door: import from ``archive.status``; the modules
behind it hold one part each:

* outcomes - the outcomes of one check and their classes (definitive, transient, alive);
* text - visible text, fingerprints, similarity and not-found wording of pages;
* sites - registrable domains, one site's domains, and what a redirect's destination says;
* http - classify_http, one HTTP check of a page;
* video - what any video provider's words, oEmbed answers and yt-dlp messages say (providers add their own);
* machine - the status machine: decide() turns outcomes into statuses and transitions;
* regions - checks from several regions: combine_regions() and decide_regions() (geo_blocked).
"""

from archive.status.http import ProbeAnswer, classify_http
from archive.status.machine import ALERT_KINDS, Decision, SourceState, Transition, WatchPolicy, decide
from archive.status.outcomes import ALIVE, DEFINITIVE, TRANSIENT, Classification, Outcome, OutcomeClass, outcome_class
from archive.status.regions import (
    DEFAULT_REGION,
    RegionCheck,
    RegionVerdict,
    combine_regions,
    decide_regions,
    region_names,
)
from archive.status.sites import SHORTENERS, registrable_domain
from archive.status.text import make_fingerprint, text_similarity, visible_text
from archive.status.video import availability_wording, classify_oembed, classify_ytdlp_error, wall_page

__all__ = [
    "ALERT_KINDS",
    "ALIVE",
    "DEFAULT_REGION",
    "DEFINITIVE",
    "SHORTENERS",
    "TRANSIENT",
    "Classification",
    "Decision",
    "Outcome",
    "OutcomeClass",
    "ProbeAnswer",
    "RegionCheck",
    "RegionVerdict",
    "SourceState",
    "Transition",
    "WatchPolicy",
    "classify_http",
    "classify_oembed",
    "availability_wording",
    "classify_ytdlp_error",
    "combine_regions",
    "decide",
    "decide_regions",
    "make_fingerprint",
    "outcome_class",
    "region_names",
    "registrable_domain",
    "text_similarity",
    "visible_text",
    "wall_page",
]
