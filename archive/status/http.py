"""classify_http: the outcome of one HTTP check of a page, with the site's answer for a nonexistent URL.

* A redirect loop, or too many redirects, is a misbehaving server (or a cookie wall), not proof that the
  page was removed: it is ``server_error``, a transient outcome.
* Where a redirect led is judged by `archive.status.sites.classify_destination`.
* The probe (the site's answer for a random nonexistent URL) proves a soft 404 only when it got 200 and
  the page has the same title as the probe's answer and near-identical text (word-shingle Jaccard >= 0.9).
  The title test is what keeps pages of sites with heavy boilerplate (a short video page inside a big
  template) from looking like the site's not-found page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archive.status.outcomes import Classification, Outcome
from archive.status.sites import classify_destination, redirect_loop, same_resource
from archive.status.text import geo_wording, make_fingerprint, page_words, soft_404_wording, text_similarity


@dataclass(frozen=True)
class ProbeAnswer:
    """How the site answered a random nonexistent URL on the same host."""

    status: int | None
    final_url: str | None
    fingerprint: str | None

    @classmethod
    def from_response(cls, status: int | None, final_url: str | None, body_text: str | None,
                      url: str | None = None) -> ProbeAnswer:
        """The probe's answer with its fingerprint computed (url: the probe URL that was asked)."""
        return cls(status, final_url, make_fingerprint(body_text, url or final_url))


# --------------------------------------------------------------------------------------------------
# classify_http
# --------------------------------------------------------------------------------------------------

_ERRORS = {
    "dns": (Outcome.DNS_ERROR, "host name does not resolve"),
    "connect": (Outcome.CONNECTION_ERROR, "could not connect"),
    "timeout": (Outcome.TIMEOUT, "no answer in time"),
    "tls": (Outcome.CONNECTION_ERROR, "TLS handshake failed"),
}
_PROBE_SIMILARITY = 0.9
_PROBE_MIN_WORDS = 8


def classify_http(*, url: str, status: int | None, final_url: str | None, redirect_chain: Sequence[str],
                  body_text: str | None, error: str | None, probe: ProbeAnswer | None) -> Classification:
    """The outcome of one HTTP check of `url`.

    status, final_url: the last answer and where redirects led; redirect_chain: the URLs passed through;
    body_text: the final page (HTML or its text); error: "dns", "connect", "timeout", "tls",
    "too_many_redirects" or None; probe: the site's answer for a random nonexistent URL on the same host.
    """
    chain = list(redirect_chain or ())
    if error == "too_many_redirects" or (error is None and status is not None and 300 <= status < 400
                                         and redirect_loop(url, chain, final_url)):
        return Classification(Outcome.SERVER_ERROR, f"redirect loop after {len(chain)} redirects"
                              " (a misbehaving server or a cookie wall, not proof of removal)")
    if error is not None:
        outcome, detail = _ERRORS.get(error, (Outcome.CONNECTION_ERROR, f"fetch failed: {error}"))
        return Classification(outcome, detail)
    if status is None:
        return Classification(Outcome.CONNECTION_ERROR, "no answer")
    if status in (404, 410):
        return Classification(Outcome.GONE, f"HTTP {status}")
    if status == 451:
        return Classification(Outcome.GEO_BLOCKED, "HTTP 451 Unavailable For Legal Reasons")
    if status == 401:
        return Classification(Outcome.PRIVATE, "HTTP 401: login required")
    if status in (403, 429):
        return Classification(Outcome.BLOCKED, f"HTTP {status}")
    if status == 408:
        return Classification(Outcome.TIMEOUT, "HTTP 408")
    if 500 <= status < 600:
        return Classification(Outcome.SERVER_ERROR, f"HTTP {status}")
    if 400 <= status < 500 or status >= 600:
        return Classification(Outcome.BLOCKED, f"HTTP {status}: an unusual refusal, not proof of removal")
    if 300 <= status < 400 and not final_url:
        return Classification(Outcome.SERVER_ERROR, f"HTTP {status} without a usable Location")
    if status < 200:
        return Classification(Outcome.SERVER_ERROR, f"HTTP {status} as a final answer")

    moved = ""
    final = final_url or url
    if not same_resource(url, final):
        verdict = classify_destination(url, final, probe.final_url if probe is not None else None)
        if verdict is not None:
            return verdict
        moved = f"moved to {final}"
    if 300 <= status < 400:
        return Classification(Outcome.OK, f"HTTP {status} to {final}")
    if body_text:
        wording = soft_404_wording(body_text)
        if wording is not None:
            return Classification(Outcome.SOFT_404, f"HTTP {status}, but the page says {wording!r}")
        refused = geo_wording(body_text)
        if refused is not None:
            return Classification(Outcome.GEO_BLOCKED, f"HTTP {status}, but the page says {refused!r}")
        verdict = _probe_similarity(url, final, body_text, probe)
        if verdict is not None:
            return verdict
    return Classification(Outcome.OK, moved or f"HTTP {status}")


def _probe_similarity(url: str, final: str, body: str, probe: ProbeAnswer | None) -> Classification | None:
    """soft_404 when a 200 page has the probe's title and near-identical words; None otherwise."""
    if probe is None or probe.status is None or not (200 <= probe.status < 300) or not probe.fingerprint:
        return None
    probe_title, _, probe_words_text = probe.fingerprint.partition("\n")
    probe_words = probe_words_text.split()
    title, words = page_words(body, [url, final])
    if title != probe_title or len(words) < _PROBE_MIN_WORDS or len(probe_words) < _PROBE_MIN_WORDS:
        return None
    similarity = text_similarity(words, probe_words)
    if similarity >= _PROBE_SIMILARITY:
        return Classification(Outcome.SOFT_404, f"HTTP 200 with the page a nonexistent URL gets "
                                                f"(similarity {similarity:.2f})")
    return None
