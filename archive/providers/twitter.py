"""Twitter / X: a status (and its mirrors fxtwitter, vxtwitter, fixupx...) and the embed widget's ?id=.

Asked: oEmbed (publish.twitter.com: 200, 404 for a post that does not exist, 403 for protected or suspended
ones, which says nothing), and the syndication endpoint the embed widget and yt-dlp read
(cdn.syndication.twimg.com/tweet-result), which answers 404 for a deleted post and, for one it will not show,
200 with a TweetTombstone (its text: deleted by the author, a suspended account, an account that no longer
exists, violated the X Rules, age-restricted) or a TweetUnavailable with a reason (Protected, NsfwLoggedOut or
NsfwViewerHasNoStatedAge, Suspended). A post whose author's account was deleted or suspended can still be
served, 200 with the post but no `user`: its account is gone. Its token is the one the embed widget and yt-dlp
compute from the id.
"""

from __future__ import annotations

import math

from archive.providers.base import Found, VideoURL, is_num, load_json, oembed_answer, query_params
from archive.status import Classification, Outcome, availability_wording, wall_page

NAME = "twitter"
DOMAINS = ("twitter.com", "x.com", "fxtwitter.com", "vxtwitter.com", "fixupx.com", "fixvx.com")
# Hosts (and their subdomains) whose pages render client-side, captured in a browser in auto mode:
# X's pages are an app shell: posts come from its GraphQL API.
RENDERED_HOSTS = ("twitter.com", "x.com")
HINTS = ("twitter", "x.com")
OEMBED = "https://publish.twitter.com/oembed"
PAGE = "https://cdn.syndication.twimg.com/tweet-result?id={id}&token={token}"


def recognize(url: VideoURL) -> Found | None:
    """The status id and its x.com page (a tweet that may carry a video)."""
    segs = url.segments
    vid = None
    if url.host == "platform.twitter.com":
        if url.path.endswith((".html", ".htm")) and "/embed/" in url.path:
            candidate = query_params(url.query).get("id", "")
            vid = candidate if is_num(candidate) else None
    elif len(segs) >= 3 and segs[1] in ("status", "statuses") and is_num(segs[2]):
        vid = segs[2]
    elif len(segs) >= 4 and segs[:3] == ["i", "web", "status"] and is_num(segs[3]):
        vid = segs[3]
    if vid is None:
        return None
    return NAME, vid, f"https://x.com/i/status/{vid}"


_TOMBSTONES: list[tuple[str, Outcome]] = [
    ("deleted by the post author", Outcome.REMOVED), ("deleted by the tweet author", Outcome.REMOVED),
    ("suspended account", Outcome.ACCOUNT_TERMINATED), ("account that no longer exists", Outcome.ACCOUNT_TERMINATED),
    ("violated the x rules", Outcome.REMOVED), ("violated the twitter rules", Outcome.REMOVED),
    ("limits who can view", Outcome.PRIVATE), ("age-restricted", Outcome.AGE_RESTRICTED),
    ("withheld in", Outcome.GEO_BLOCKED),
]
_UNAVAILABLE = {"Protected": Outcome.PRIVATE, "NsfwLoggedOut": Outcome.AGE_RESTRICTED,
                "NsfwViewerHasNoStatedAge": Outcome.AGE_RESTRICTED, "Suspended": Outcome.ACCOUNT_TERMINATED}
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def token(video_id: str) -> str:
    """The syndication endpoint's token, as the embed widget computes it (yt-dlp too): the digits of
    ((id / 1e15) * pi).toString(36) without its zeros and point."""
    return "".join(c for c in _base36(int(video_id) / 1e15 * math.pi) if c not in "0.")


def _base36(value: float) -> str:
    """A positive number in base 36 as JavaScript's Number.prototype.toString(36) writes it (V8's algorithm:
    fraction digits until the rest is below half a unit in the last place, rounded half to even)."""
    fraction, integer = math.modf(value)
    delta = max(math.ulp(0.0), math.ulp(value) / 2)
    digits: list[int] = []
    while fraction >= delta:
        fraction, delta = fraction * 36, delta * 36
        digit = int(fraction)
        digits.append(digit)
        fraction -= digit
        if (fraction > 0.5 or (fraction == 0.5 and digit & 1)) and fraction + delta > 1:
            while digits and digits[-1] == 35:  # round up, carrying
                digits.pop()
            if digits:
                digits[-1] += 1
            else:
                integer += 1
            break
    whole, head = int(integer), ""
    while True:
        whole, rest = divmod(whole, 36)
        head = _DIGITS[rest] + head
        if not whole:
            break
    return head + ("." + "".join(_DIGITS[d] for d in digits) if digits else "")


def _tombstone(data: dict[str, object]) -> Classification | None:
    """What a TweetTombstone's or TweetUnavailable's words say."""
    if data.get("__typename") == "TweetUnavailable":
        reason = str(data.get("reason") or "")
        outcome = _UNAVAILABLE.get(reason)
        return Classification(outcome, f"X: the post is unavailable ({reason})") if outcome else None
    stone = data.get("tombstone")
    text = stone.get("text") if isinstance(stone, dict) else None
    words = str(text.get("text") if isinstance(text, dict) else text or "").strip()
    for wording, outcome in _TOMBSTONES:
        if wording in words.lower():
            return Classification(outcome, f"X: {words[:200]}")
    verdict = availability_wording(words) if words else None
    return Classification(verdict.outcome, f"X: {words[:200]}") if verdict else None


def read_page(status: int, text: str) -> Classification | None:
    """404: deleted; a tombstone's words; a tweet: there, or its author's account gone when it has no user;
    an empty object says nothing."""
    if status == 404:
        return Classification(Outcome.GONE, "X syndication 404: no such post")
    data = load_json(text)
    if not isinstance(data, dict):
        return wall_page(text)
    if not (200 <= status < 300):
        return None
    if data.get("__typename") in ("TweetTombstone", "TweetUnavailable"):
        return _tombstone(data)
    if data.get("__typename") == "Tweet" or data.get("id_str"):
        if not isinstance(data.get("user"), dict) or not data["user"]:
            return Classification(Outcome.ACCOUNT_TERMINATED, "X: the post is served without its author "
                                  "(the account was deleted or suspended)")
        return Classification(Outcome.OK, "X syndication shows the post")
    return None


def read_oembed(status: int, body: bytes | None) -> Classification | None:
    """200: there; 404: gone; 403 (protected, suspended or limited): nothing."""
    return oembed_answer(status, body)
