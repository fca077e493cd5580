"""What one check of a source found, and what a run of checks means for its status.

Pure logic: no network, no database. The checker (HTTP fetches), the crawl (yt-dlp errors) and the
scheduler call it. This module is the package's front door: import from ``archive.status``; the modules
behind it hold one part each:

* outcomes - the outcomes of one check and their classes (definitive, transient, alive);
* text - visible text, fingerprints, similarity and not-found wording of pages;
* sites - registrable domains, one site's domains, and what a redirect's destination says;
* http - classify_http, one HTTP check of a page;
* video - what any video provider's words, oEmbed answers and yt-dlp messages say (providers add their own);
* machine - the status machine: decide() turns outcomes into statuses and transitions.
"""

from archive.status.http import ProbeAnswer, classify_http
from archive.status.machine import ALERT_KINDS, Decision, SourceState, Transition, WatchPolicy, decide
from archive.status.outcomes import ALIVE, DEFINITIVE, TRANSIENT, Classification, Outcome, OutcomeClass, outcome_class
from archive.status.sites import SHORTENERS, registrable_domain
from archive.status.text import make_fingerprint, text_similarity, visible_text
from archive.status.video import availability_wording, classify_oembed, classify_ytdlp_error, wall_page

__all__ = [
    "ALERT_KINDS",
    "ALIVE",
    "DEFINITIVE",
    "SHORTENERS",
    "TRANSIENT",
    "Classification",
    "Decision",
    "Outcome",
    "OutcomeClass",
    "ProbeAnswer",
    "SourceState",
    "Transition",
    "WatchPolicy",
    "classify_http",
    "classify_oembed",
    "availability_wording",
    "classify_ytdlp_error",
    "decide",
    "make_fingerprint",
    "outcome_class",
    "registrable_domain",
    "text_similarity",
    "visible_text",
    "wall_page",
]
