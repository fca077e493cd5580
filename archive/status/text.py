"""Page text for judging pages: visible text, headings, fingerprints, similarity, not-found wording.

Not-found wording counts only in the title or the main heading (or, for plain text, the first lines), and
only when it is most of that heading: an article *about* "404" errors is ok.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

# --------------------------------------------------------------------------------------------------
# Text helpers: visible text, headings, fingerprints
# --------------------------------------------------------------------------------------------------

_HTML_HINT = re.compile(r"<(?:!doctype|html|head|body|title|div|p|h[1-6]|meta|script)\b", re.I)
_DROP_BLOCKS = re.compile(r"<(script|style|noscript|template|svg)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1\s*>", re.I | re.S)
_H2 = re.compile(r"<h2\b[^>]*>(.*?)</h2\s*>", re.I | re.S)
_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00a0": " ", "\u2011": "-"})


def _looks_like_html(text: str) -> bool:
    return bool(_HTML_HINT.search(text[:20000]))


def inline_text(fragment: str) -> str:
    """An HTML fragment's text on one line: tags dropped, entities decoded, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", fragment))).strip()


def fold_text(text: str) -> str:
    """Typographic quotes and non-breaking characters folded to ASCII, whitespace runs to one space."""
    return _SPACE.sub(" ", text.translate(_QUOTES)).strip()


def visible_text(body: str) -> str:
    """The text a reader sees: tags, scripts and styles dropped when the body is HTML."""
    if not _looks_like_html(body):
        return body
    text = _DROP_BLOCKS.sub(" ", body)
    text = re.sub(r"<(?:br|/p|/div|/h[1-6]|/li|/tr|/title)\b[^>]*>", "\n", text, flags=re.I)
    text = html.unescape(_TAG.sub(" ", text))
    return "\n".join(line for line in (_SPACE.sub(" ", raw).strip() for raw in text.splitlines()) if line)


def _title_of(body: str) -> str:
    if _looks_like_html(body):
        match = _TITLE.search(body)
        return inline_text(match.group(1)) if match else ""
    for line in body.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def _headings(body: str) -> list[str]:
    """Title-and-heading-sized text: <title> and <h1> (first <h2> if no <h1>), or a text's first lines."""
    if _looks_like_html(body):
        cleaned = _DROP_BLOCKS.sub(" ", body)
        found = [inline_text(m.group(1)) for m in _TITLE.finditer(cleaned)][:1]
        h1 = [inline_text(m.group(1)) for m in _H1.finditer(cleaned)][:3]
        if not any(h1):
            h1 = [inline_text(m.group(1)) for m in _H2.finditer(cleaned)][:1]
        return [text for text in found + h1 if text]
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    return [line for line in lines[:3] if len(line) <= 200]


def _url_noise(urls: Iterable[str | None]) -> list[str]:
    """Strings a page may echo from the URL that asked for it (path, last segment), longest first."""
    pieces: set[str] = set()
    for url in urls:
        if not url:
            continue
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        if len(path) > 1:
            pieces.add(path.lower())
            last = path.rsplit("/", 1)[-1]
            if len(last) >= 4:
                pieces.add(last.lower())
    return sorted(pieces, key=len, reverse=True)


def _normalize(text: str, noise: Sequence[str] = ()) -> list[str]:
    lowered = text.translate(_QUOTES).lower()
    lowered = re.sub(r"https?://\S+", " ", lowered)
    for piece in noise:
        lowered = lowered.replace(piece, " ")
    lowered = re.sub(r"\d+", "0", lowered)
    return re.findall(r"\w+", lowered)


_FINGERPRINT_TOKENS = 3000


def make_fingerprint(body_text: str | None, url: str | None = None) -> str:
    """What a probe keeps of the page it got: its normalized title, a newline, then its normalized words.

    Digits are folded and the requested URL's path is dropped, so that "no page at /x-123" and "no page at
    /y-456" compare equal. Store it as text; `classify_http` compares pages to it.
    """
    if not body_text:
        return "\n"
    title, words = page_words(body_text, [url])
    return f"{title}\n{' '.join(words)}"


def page_words(body: str, urls: Iterable[str | None]) -> tuple[str, list[str]]:
    """A page's normalized title and (up to a fingerprint's length) its normalized words.

    What `make_fingerprint` keeps and what a page is compared with it by: digits folded, and the strings the
    page may echo from `urls` (their paths) dropped.
    """
    noise = _url_noise(urls)
    title = " ".join(_normalize(_title_of(body), noise))
    return title, _normalize(visible_text(body), noise)[:_FINGERPRINT_TOKENS]


def _shingles(words: Sequence[str], size: int = 3) -> set[tuple[str, ...]]:
    if len(words) < size:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + size]) for i in range(len(words) - size + 1)}


def text_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard similarity of word 3-shingles (1.0 for two identical texts, 0.0 when either is empty)."""
    left, right = _shingles(a), _shingles(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


# --------------------------------------------------------------------------------------------------
# Soft 404 by wording
# --------------------------------------------------------------------------------------------------

_NEG = (r"(?:does\s+not|doesn't|did\s+not|didn't|could\s+not|couldn't|can\s?not|can't|was\s+not|wasn't"
        r"|is\s+not|isn't|no\s+longer)")
_THING = r"(?:page|article|story|content|post|document|file|resource|url|link|item|entry)"
_NOT_FOUND = [re.compile(pattern) for pattern in (
    # English
    r"\b(?:error\s*)?404(?:\s*error)?\b(?:\s*[-:.,!]?\s*(?:the\s+)?(?:" + _THING + r"\s+)?not\s+found)?",
    r"\b(?:error|page)\s*[-:]?\s*404\b",  # "Page 404", not "Story 404": stories and items are numbered
    r"\b(?:the\s+|this\s+|that\s+)?" + _THING + r"\s+(?:was\s+|is\s+)?not\s+found\b",
    r"^(?:(?:the\s+)?requested\s+)?(?:" + _THING + r"\s+)?not\s+found$",
    r"^nothing\s+(?:was\s+)?found(?:\s+here)?$",
    r"\b(?:the\s+|this\s+|that\s+)?" + _THING + r"\s+(?:you\s+(?:are|were|'re)\s+looking\s+for|you\s+requested|"
    r"requested)\s+(?:" + _NEG + r"|(?:was|has\s+been|is)\s+(?:not\s+found|removed|deleted|moved|unavailable))"
    r"(?:\s+(?:exist|be\s+found|found|available|here|anymore|longer))*",
    r"\b(?:the\s+|this\s+|that\s+)?" + _THING + r"\s+" + _NEG + r"\s+(?:exist|be\s+found)(?:\s+anymore)?",
    r"\b(?:we|i)\s+(?:could\s+not|couldn't|can\s?not|can't)\s+find\s+(?:the|that|this|your)\s+" + _THING
    + r"(?:\s+you\s+(?:are|were|'re)\s+looking\s+for)?",
    r"\b(?:the\s+|this\s+|that\s+)?" + _THING + r"\s+(?:is\s+no\s+longer\s+available|has\s+been\s+(?:removed|"
    r"deleted)|no\s+longer\s+exists|is\s+unavailable|is\s+gone)",
    r"\bthere\s+is\s+nothing\s+here\b",
    # Russian
    r"(?:ошибка\s*)?404(?:\s*[-:.,!]?\s*(?:страница\s+)?не\s+найден\w*)?",
    r"ошибка\s*[-:]?\s*404",
    r"(?:запрашиваем\w*\s+(?:вами\s+)?)?(?:страниц\w*|материал\w*|документ\w*|стать\w*|новост\w*|публикаци\w*|"
    r"запис\w*|ресурс\w*)\s+(?:не\s+найден\w*|не\s+существует|не\s+обнаружен\w*|(?:был\w*\s+)?удален\w*|"
    r"недоступн\w*|отсутствует)",
    r"(?:такой\s+)?страницы\s+(?:нет|не\s+существует)(?:\s+на\s+сайте)?",
    r"^(?:ничего\s+)?не\s+найден\w*$",
    # Ukrainian
    r"сторінк\w*\s+не\s+(?:знайдено|знайдена|існує)",
)]
_DECOR = re.compile(r"^(?:oops|whoops|sorry|uh[- ]oh|hmm+|ой|упс|извините|к\s+сожалению|на\s+жаль|вибачте)\b\W*")
_SEPARATORS = re.compile(r"\s+[|\u2013\u2014\-\u00b7\u00bb\u00ab:/]+\s+|\s*::\s*")
_MIN_COVERAGE = 0.6


def _not_found_heading(heading: str) -> bool:
    """True when a heading segment is a not-found message (its wording is most of the segment)."""
    for segment in _SEPARATORS.split(heading.translate(_QUOTES).lower()):
        text = _SPACE.sub(" ", segment).strip(" .,!?;:'\"()[]«»")
        for _ in range(3):
            text = _DECOR.sub("", text).strip(" .,!?;:'\"()[]«»")
        if not text:
            continue
        covered = [False] * len(text)
        for pattern in _NOT_FOUND:
            for match in pattern.finditer(text):
                for i in range(match.start(), match.end()):
                    covered[i] = True
        letters = [i for i, ch in enumerate(text) if ch.isalnum()]
        if letters and sum(covered[i] for i in letters) / len(letters) >= _MIN_COVERAGE:
            return True
    return False


def soft_404_wording(body: str) -> str | None:
    """The title or main heading that says "not found" (cut to 120 characters), or None."""
    for heading in _headings(body):
        if _not_found_heading(heading):
            return heading[:120]
    return None


# --------------------------------------------------------------------------------------------------
# Refused for geography, by wording
# --------------------------------------------------------------------------------------------------

_GEO = re.compile(
    r"(?:(?:this|the)\s+(?:content|video|page|site|website|service|article|resource)\s+is\s+)?"
    r"(?:not\s+available|unavailable|blocked)\s+(?:in|from)\s+your\s+(?:country|region|location|area)"
    r"|geo[- ]?(?:restricted|blocked)|(?:контент\w*\s+|страниц\w*\s+|видео\s+)?недоступ\w*\s+в\s+ваш\w+\s+"
    r"(?:стране|регионе)")


def geo_wording(body: str) -> str | None:
    """The title or main heading that says "not available in your country" (cut to 120 characters), or None.

    As for not-found wording, the words must be most of a heading: an article about geo-blocking is a page.
    """
    for heading in _headings(body):
        for segment in _SEPARATORS.split(heading.translate(_QUOTES).lower()):
            text = _SPACE.sub(" ", segment).strip(" .,!?;:'\"()[]«»")
            for _ in range(3):
                text = _DECOR.sub("", text).strip(" .,!?;:'\"()[]«»")
            letters = sum(ch.isalnum() for ch in text)
            covered = sum(sum(ch.isalnum() for ch in m.group(0)) for m in _GEO.finditer(text))
            if letters and covered / letters >= _MIN_COVERAGE:
                return heading[:120]
    return None
