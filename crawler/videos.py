"""Videos a page links to or embeds, each named by its provider and the provider's own id.

The same video written as a watch link, a short link and an embed is one `VideoRef`: the key is
(provider, video_id), and `canonical_url` is the provider's public page for it. Nothing here touches
the network; a page is parsed once with lxml and only the elements that can carry a video are read.

Decisions worth knowing:
- Short links that cannot be resolved offline (fb.watch/CODE, vm.tiktok.com/CODE, facebook.com/share/v/CODE)
  are kept as videos whose id is the short code; they cannot be merged with the numeric id they point to.
- Unlisted Vimeo videos (vimeo.com/ID/HASH, player.vimeo.com/video/ID?h=HASH) and private Rutube videos
  (?p=KEY) keep their key in canonical_url: without it the public page is a 404 and the video would look gone.
- Bytes without a BOM or a <meta> charset that are not valid UTF-8 are read as windows-1251 (the crawl's
  non-UTF-8 pages are mostly Russian); pass `encoding=` when the HTTP header says otherwise.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

from lxml import etree

from archive.urls import InvalidURL, normalize_url

PROVIDERS = ("youtube", "vimeo", "dailymotion", "vk", "rutube", "ok", "twitter", "telegram", "facebook",
             "tiktok", "instagram", "direct")
FOUND_AS = ("link", "iframe", "embed", "video", "source", "og:video", "json-ld")
MEDIA_EXTENSIONS = (".mp4", ".webm", ".m3u8", ".mov", ".m4v", ".ogv", ".mpd")


@dataclass(frozen=True)
class VideoRef:
    """One video: who hosts it, its id there, its public page, and how the page referred to it."""

    provider: str
    video_id: str
    canonical_url: str
    found_as: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.video_id)


# --- URL -> video -------------------------------------------------------------------------------------------

_Found = tuple[str, str, str]  # provider, video_id, canonical_url

_YT_ID = re.compile(r"([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])")
_YT_NOT_IDS = frozenset({"videoseries", "live_stream"})  # /embed/videoseries?list=..., /embed/live_stream?channel=
_CODE = re.compile(r"[A-Za-z0-9_-]+")
_DM_ID = re.compile(r"[A-Za-z0-9]+")
_DM_PLAYER = re.compile(r"/player(?:/[\w-]+)?\.html")
_VK_PATH = re.compile(r"/(?:video|clip)(-?\d+_\d+)(?=/|$)")
_VK_Z = re.compile(r"(?:video|clip)(-?\d+_\d+)")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_VIMEO_HASH = re.compile(r"[0-9a-f]{6,}")
_TG_CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_TG_RESERVED = frozenset({
    "joinchat", "addstickers", "addemoji", "addtheme", "addlist", "share", "proxy", "socks", "setlanguage",
    "login", "boost", "contact", "invoice", "confirmphone", "iv", "bg", "s", "c",
})
_TT_V = re.compile(r"(\d+)\.html")


def _num(text: str | None) -> bool:
    return bool(text) and text.isascii() and text.isdigit()  # type: ignore[union-attr]


def _query(query: str) -> dict[str, str]:
    if not query:
        return {}
    return {k: v[0] for k, v in parse_qs(query).items()}


def _youtube(host: str, segs: list[str], query: str) -> _Found | None:
    if host == "youtu.be":
        candidate = segs[0] if segs else ""
    elif not segs:
        return None
    else:
        first = segs[0].lower()
        if first in ("watch", "watch_popup"):
            candidate = segs[1] if len(segs) > 1 else _query(query).get("v", "")
        elif first in ("embed", "shorts", "live", "v", "e") and len(segs) > 1:
            candidate = segs[1]
            if candidate.lower() in _YT_NOT_IDS:
                return None
        elif first == "attribution_link":
            inner = _query(query).get("u", "")
            return _classify("https://www.youtube.com" + inner) if inner.startswith("/") else None
        else:
            return None
    match = _YT_ID.match(candidate)
    if not match:
        return None
    vid = match.group(1)
    return "youtube", vid, f"https://www.youtube.com/watch?v={vid}"


def _vimeo(host: str, segs: list[str], query: str) -> _Found | None:
    vid, key = None, None
    n = len(segs)
    if host == "player.vimeo.com":
        if n >= 2 and segs[0] == "video" and _num(segs[1]):
            vid, key = segs[1], _query(query).get("h")
    elif n:
        first = segs[0].lower()
        if _num(first):
            vid = first
            key = segs[1] if n > 1 else None
        elif first == "channels" and n >= 3 and _num(segs[2]):
            vid = segs[2]
        elif first == "groups" and n >= 4 and segs[2] == "videos" and _num(segs[3]):
            vid = segs[3]
        elif first in ("album", "showcase") and n >= 4 and segs[2] == "video" and _num(segs[3]):
            vid = segs[3]
        elif first in ("video", "videos") and n >= 2 and _num(segs[1]):
            vid = segs[1]
        elif first == "ondemand" and n >= 3 and _num(segs[2]):
            vid = segs[2]
        elif n >= 3 and segs[1] == "review" and _num(segs[2]):
            vid, key = segs[2], segs[3] if n > 3 else None
    if vid is None:
        return None
    canonical = f"https://vimeo.com/{vid}"
    if key and _VIMEO_HASH.fullmatch(key):
        canonical += f"/{key}"
    return "vimeo", vid, canonical


def _dailymotion(host: str, segs: list[str], path: str, query: str) -> _Found | None:
    raw = None
    n = len(segs)
    if host == "dai.ly":
        raw = segs[0] if n else None
    elif n >= 2 and segs[0] == "video":
        raw = segs[1]
    elif n >= 3 and segs[0] in ("embed", "swf", "crawler") and segs[1] == "video":
        raw = segs[2]
    elif n == 2 and segs[0] == "swf":
        raw = segs[1]
    elif _DM_PLAYER.fullmatch(path):
        raw = _query(query).get("video")
    if not raw:
        return None
    vid = raw.split("_", 1)[0]
    if not _DM_ID.fullmatch(vid):
        return None
    return "dailymotion", vid, f"https://www.dailymotion.com/video/{vid}"


def _vk(segs: list[str], path: str, query: str) -> _Found | None:
    vid = None
    if path.lower() == "/video_ext.php":
        q = _query(query)
        oid, num = q.get("oid", ""), q.get("id", "")
        if _num(oid.removeprefix("-")) and _num(num):
            vid = f"{oid}_{num}"
    else:
        match = _VK_PATH.search(path)
        if match:
            vid = match.group(1)
        elif query:
            z = _query(query).get("z", "")
            match = _VK_Z.search(z)
            vid = match.group(1) if match else None
    if vid is None:
        return None
    return "vk", vid, f"https://vk.com/video{vid}"


def _rutube(segs: list[str], query: str) -> _Found | None:
    s = [seg.lower() for seg in segs[:4]]
    candidate, private = None, False
    if s[:2] == ["video", "private"] and len(s) > 2:
        candidate, private = s[2], True
    elif s[:2] == ["video", "embed"] and len(s) > 2:
        candidate = s[2]
    elif s[:1] in (["video"], ["shorts"]) and len(s) > 1:
        candidate = s[1]
    elif s[:2] == ["live", "video"] and len(s) > 2:
        candidate = s[2]
    elif s[:2] == ["play", "embed"] and len(s) > 2:
        candidate = s[2]
    elif s[:1] == ["embed"] and len(s) > 1:
        candidate = s[1]
    if not candidate:
        return None
    key = _query(query).get("p") if query else None
    if _HEX32.fullmatch(candidate):
        if key and _CODE.fullmatch(key):
            canonical = f"https://rutube.ru/video/private/{candidate}/?p={key}"
        else:
            canonical = f"https://rutube.ru/video/{candidate}/"
        return "rutube", candidate, canonical
    if _num(candidate) and not private:  # old numeric embed ids: only the embed player knows them
        return "rutube", candidate, f"https://rutube.ru/play/embed/{candidate}"
    return None


def _ok(segs: list[str], path: str, query: str) -> _Found | None:
    vid = None
    if len(segs) >= 2 and segs[0] in ("video", "videoembed", "live") and _num(segs[1]):
        vid = segs[1]
    elif path == "/dk" and query:
        candidate = _query(query).get("st.mvId", "")
        vid = candidate if _num(candidate) else None
    if vid is None:
        return None
    return "ok", vid, f"https://ok.ru/video/{vid}"


def _twitter(host: str, segs: list[str], path: str, query: str) -> _Found | None:
    vid = None
    if host == "platform.twitter.com":
        if path.endswith((".html", ".htm")) and "/embed/" in path:
            candidate = _query(query).get("id", "")
            vid = candidate if _num(candidate) else None
    elif len(segs) >= 3 and segs[1] in ("status", "statuses") and _num(segs[2]):
        vid = segs[2]
    elif len(segs) >= 4 and segs[:3] == ["i", "web", "status"] and _num(segs[3]):
        vid = segs[3]
    if vid is None:
        return None
    return "twitter", vid, f"https://x.com/i/status/{vid}"


def _telegram(segs: list[str]) -> _Found | None:
    if segs and segs[0] == "s":
        segs = segs[1:]
    if len(segs) not in (2, 3) or not _TG_CHANNEL.fullmatch(segs[0]):
        return None
    channel = segs[0].lower()
    if channel in _TG_RESERVED or not all(_num(seg) for seg in segs[1:]):
        return None
    post = str(int(segs[-1]))
    return "telegram", f"{channel}/{post}", f"https://t.me/{channel}/{post}"


def _facebook(host: str, segs: list[str], query: str) -> _Found | None:
    if host == "fb.watch":
        code = segs[0] if segs else ""
        return ("facebook", code, f"https://fb.watch/{code}/") if _CODE.fullmatch(code) else None
    if not segs:
        return None
    first = segs[0].lower()
    n = len(segs)
    vid = None
    if first == "plugins" and n >= 2 and segs[1] in ("video.php", "post.php"):
        inner = _query(query).get("href", "")
        found = _classify(inner) if inner else None
        return found if found and found[0] == "facebook" else None
    if first == "watch" or first == "video.php" or (first == "video" and n >= 2 and segs[1] in ("video.php", "embed")):
        q = _query(query)
        vid = q.get("v") or q.get("video_id")
    elif first in ("reel", "reels") and n >= 2:
        vid = segs[1]
    elif first == "share" and n >= 3 and segs[1] in ("v", "r") and _CODE.fullmatch(segs[2]):
        code = f"share/{segs[1]}/{segs[2]}"
        return "facebook", code, f"https://www.facebook.com/{code}/"
    elif n >= 3 and segs[1] == "videos":
        vid = next((seg for seg in segs[2:5] if _num(seg)), None)
    if not _num(vid):
        return None
    return "facebook", vid, f"https://www.facebook.com/watch/?v={vid}"  # type: ignore[return-value]


def _tiktok(host: str, segs: list[str]) -> _Found | None:
    n = len(segs)
    if host in ("vm.tiktok.com", "vt.tiktok.com"):
        code = segs[0] if n == 1 else ""
        return ("tiktok", code, f"https://{host}/{code}/") if _CODE.fullmatch(code) else None
    if n == 2 and segs[0] == "t":
        code = segs[1]
        return ("tiktok", code, f"https://www.tiktok.com/t/{code}/") if _CODE.fullmatch(code) else None
    vid, user = None, ""
    if n >= 3 and segs[0].startswith("@") and segs[1] == "video":
        vid, user = segs[2], segs[0][1:]
    elif n >= 2 and segs[0] == "embed":
        vid = segs[2] if segs[1] == "v2" and n >= 3 else segs[1]
    elif n >= 3 and segs[:2] in (["player", "v1"], ["share", "video"]):
        vid = segs[2]
    elif n >= 2 and segs[0] == "v":
        match = _TT_V.fullmatch(segs[1])
        vid = match.group(1) if match else segs[1]
    if not _num(vid):
        return None
    return "tiktok", vid, f"https://www.tiktok.com/@{user}/video/{vid}"  # type: ignore[return-value]


def _instagram(segs: list[str]) -> _Found | None:
    kinds = ("p", "reel", "reels", "tv")
    code = None
    if len(segs) >= 2 and segs[0] in kinds:
        code = segs[1]
    elif len(segs) >= 3 and segs[1] in kinds and segs[0] not in ("explore", "stories", "accounts"):
        code = segs[2]
    if not code or code == "audio" or len(code) < 5 or not _CODE.fullmatch(code):
        return None
    return "instagram", code, f"https://www.instagram.com/p/{code}/"


# Registered domain (last two labels of the host) -> provider.
_DOMAINS = {
    "youtube.com": "youtube", "youtu.be": "youtube", "youtube-nocookie.com": "youtube",
    "vimeo.com": "vimeo",
    "dailymotion.com": "dailymotion", "dai.ly": "dailymotion",
    "vk.com": "vk", "vk.ru": "vk", "vkvideo.ru": "vk",
    "rutube.ru": "rutube",
    "ok.ru": "ok", "odnoklassniki.ru": "ok",
    "twitter.com": "twitter", "x.com": "twitter", "fxtwitter.com": "twitter", "vxtwitter.com": "twitter",
    "fixupx.com": "twitter", "fixvx.com": "twitter",
    "t.me": "telegram", "telegram.me": "telegram", "telegram.dog": "telegram",
    "facebook.com": "facebook", "fb.com": "facebook", "fb.watch": "facebook",
    "tiktok.com": "tiktok",
    "instagram.com": "instagram", "instagr.am": "instagram",
}


def _provider(host: str, domain: str, path: str, query: str) -> _Found | None:
    provider = _DOMAINS.get(domain)
    if provider is None:
        return None
    segs = [seg for seg in path.split("/") if seg]
    if provider == "youtube":
        if domain == "youtube-nocookie.com" and segs[:1] != ["embed"]:
            return None
        return _youtube(domain if domain == "youtu.be" else host, segs, query)
    if provider == "vimeo":
        return _vimeo(host, segs, query)
    if provider == "dailymotion":
        return _dailymotion(domain, segs, path, query)
    if provider == "vk":
        return _vk(segs, path, query)
    if provider == "rutube":
        return _rutube(segs, query)
    if provider == "ok":
        return _ok(segs, path, query)
    if provider == "twitter":
        return _twitter(host, segs, path, query)
    if provider == "telegram":
        return _telegram(segs)
    if provider == "facebook":
        return _facebook(domain if domain == "fb.watch" else host, segs, query)
    if provider == "tiktok":
        return _tiktok(host, segs)
    return _instagram(segs)


def _clean(url: str) -> str:
    url = url.strip()
    if "\t" in url or "\n" in url or "\r" in url:
        url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    if " " in url:
        url = url.replace(" ", "%20")
    if "&amp;" in url:
        url = url.replace("&amp;", "&")
    if url.startswith("//"):
        url = "https:" + url
    return url


def _classify(url: str) -> _Found | None:
    """(provider, video_id, canonical_url) for an absolute http(s) URL of a video, else None."""
    url = _clean(url)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or "%" in host:
        return None  # "%" only gets there from white space inside the host: not a URL a browser would open
    labels = host.rsplit(".", 2)
    domain = ".".join(labels[-2:])
    path = parts.path
    if domain in _DOMAINS:
        found = _provider(host, domain, path, parts.query)
        if found is not None:
            return found
    if path.lower().endswith(MEDIA_EXTENSIONS):
        try:
            normal = normalize_url(url)
        except InvalidURL:
            return None
        return "direct", normal, normal
    return None


def video_from_url(url: str) -> VideoRef | None:
    """The video a URL points to (found_as "link"), or None when it is not a video's URL."""
    if not isinstance(url, str) or not url:
        return None
    found = _classify(url)
    return VideoRef(found[0], found[1], found[2], "link") if found else None


# --- page -> videos -----------------------------------------------------------------------------------------

# Cheap test before a link is parsed: a provider's host or a media extension appears in the lower-cased URL.
# (Literal alternatives only: a case-insensitive or look-behind pattern is ten times slower per link.)
_HINT = re.compile("|".join(re.escape(hint) for hint in (
    "youtu", "vimeo", "dailymotion", "dai.ly", "vk.", "vkvideo", "rutube", "ok.ru", "odnoklassniki", "twitter",
    "x.com", "t.me", "telegram", "facebook", "fb.", "tiktok", "instagr", *MEDIA_EXTENSIONS)))
_META_NAMES = frozenset({"og:video", "og:video:url", "og:video:secure_url", "twitter:player",
                         "twitter:player:stream"})
_JSONLD_KEYS = ("contentUrl", "embedUrl", "url")
_TAGS_NO_DIV = ("a", "area", "iframe", "frame", "embed", "object", "param", "video", "source", "meta", "script",
                "base", "blockquote")
_TAGS = (*_TAGS_NO_DIV, "div")  # <div data-href> is the Facebook SDK's embed; only read when the page has one
_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,100}?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_ABSOLUTE = re.compile(r"""(?:https?:)?//[^\s"'<>\\]+""", re.IGNORECASE)


def _codec(name: bytes | str | None) -> str | None:
    if not name:
        return None
    try:
        text = name.decode("ascii") if isinstance(name, bytes) else name
        codec = codecs.lookup(text.strip()).name
    except (LookupError, UnicodeDecodeError):
        return None
    return "utf-8" if codec.startswith("utf-16") or codec.startswith("utf-32") else codec


def _decode(data: bytes, encoding: str | None) -> str:
    """Text of an HTML body: BOM, then the caller's encoding, then <meta charset>, then UTF-8, else cp1251."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    head = data[:4096]
    declared = _codec(encoding)
    if declared is None:
        match = _XML_ENCODING.match(head) or _CHARSET.search(head)
        declared = _codec(match.group(1)) if match else None
    if declared is not None:
        return data.decode(declared, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1251", errors="replace")


def _parse(text: str) -> etree._Element | None:
    parser = etree.HTMLParser(encoding="utf-8", recover=True, no_network=True, remove_comments=True,
                              remove_pis=True, huge_tree=True, default_doctype=False, collect_ids=False)
    try:
        return etree.fromstring(text.encode("utf-8", errors="replace"), parser)
    except (etree.LxmlError, ValueError):
        return None


def _is_video_type(value: object) -> bool:
    if isinstance(value, str):
        return value.rsplit("/", 1)[-1].rsplit(":", 1)[-1] == "VideoObject"
    if isinstance(value, list):
        return any(_is_video_type(v) for v in value)
    return False


def _jsonld_urls(data: object, depth: int = 0) -> Iterator[str]:
    """contentUrl, embedUrl and url of every VideoObject, however deep (@graph, lists, nested)."""
    if depth > 32:
        return
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict | list):
                yield from _jsonld_urls(item, depth + 1)
        return
    if not isinstance(data, dict):
        return
    if _is_video_type(data.get("@type")):
        for key, value in data.items():
            if not isinstance(key, str) or key.rsplit("/", 1)[-1].rsplit(":", 1)[-1] not in _JSONLD_KEYS:
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    item = item.get("@id") or item.get("url") or item.get("@value")
                if isinstance(item, str):
                    yield item
    for value in data.values():
        if isinstance(value, dict | list):
            yield from _jsonld_urls(value, depth + 1)


def _jsonld(text: str | None) -> list[str]:
    if not text:
        return []
    text = text.strip()
    for prefix in ("<!--", "//<![CDATA[", "<![CDATA["):
        text = text.removeprefix(prefix).lstrip()
    for suffix in ("-->", "//]]>", "]]>", ";"):
        text = text.removesuffix(suffix).rstrip()
    try:
        data = json.loads(text, strict=False)
    except (ValueError, RecursionError):
        return []
    try:
        return list(_jsonld_urls(data))
    except RecursionError:
        return []


def _host_hint(url: str) -> bool:
    """True when relative links against this base may be videos (the base itself is a provider's host)."""
    try:
        return bool(_HINT.search(urlsplit(url.strip()).hostname or ""))
    except ValueError:
        return False


def _candidates(root: etree._Element, base_hint: bool,
                tags: tuple[str, ...]) -> tuple[list[tuple[str, str]], str | None]:
    """(raw URL, found_as) in document order, and the first <base href>.

    Links are many and rarely videos, so they are kept only when the lower-cased URL hints at a provider or a
    media file, or when they are relative to a base on a provider's host.
    """
    out: list[tuple[str, str]] = []
    add = out.append
    hint = _HINT.search
    base_href = None
    for el in root.iter(*tags):
        tag = el.tag
        get = el.get
        if tag == "a" or tag == "area":
            href = get("href")
            if href and (hint(href.lower()) or (base_hint and "//" not in href[:8])):
                add((href, "link"))
        elif tag == "div":
            href = get("data-href")
            if href and (hint(href.lower()) or base_hint):
                add((href, "embed"))
        elif tag == "iframe" or tag == "frame":
            for attr in ("src", "data-src", "data-lazy-src"):
                value = get(attr)
                if value:
                    add((value, "iframe"))
        elif tag == "video":
            for attr in ("src", "data-src"):
                value = get(attr)
                if value:
                    add((value, "video"))
        elif tag == "source":
            value = get("src")
            parent = el.getparent()
            if value and parent is not None and parent.tag == "video":
                add((value, "source"))
        elif tag == "meta":
            name = (get("property") or get("name") or "").strip().lower()
            if name in _META_NAMES:
                value = get("content")
                if value:
                    add((value, "og:video"))
        elif tag == "script":
            if "ld+json" in (get("type") or "").lower():
                for url in _jsonld(el.text):
                    add((url, "json-ld"))
            post = get("data-telegram-post")
            if post:
                add(("https://t.me/" + post.strip().lstrip("/"), "embed"))
        elif tag == "embed":
            value = get("src")
            if value:
                add((value, "embed"))
        elif tag == "object":
            value = get("data")
            if value:
                add((value, "embed"))
        elif tag == "param":
            value = get("value")
            if value and (get("name") or "").lower() in ("movie", "src", "url"):
                add((value, "embed"))
        elif tag == "blockquote":
            for attr in ("cite", "data-instgrm-permalink"):
                value = get(attr)
                if value:
                    add((value, "embed"))
            if "twitter-" in (get("class") or ""):  # a tweet embed: its status link is the embed
                for a in el.iter("a"):
                    href = a.get("href")
                    if href and hint(href.lower()):
                        add((href, "embed"))
        elif tag == "base":
            href = get("href")
            if base_href is None and href:
                base_href = href
                if "//" in href[:8]:
                    base_hint = _host_hint(href)
    return out, base_href


def _absolute(raw: str, base: str, base_scheme: str) -> str:
    raw = raw.strip()
    head = raw[:8].lower()
    if head.startswith("https://") or head.startswith("http://"):
        return raw
    if raw.startswith("//"):
        return f"{base_scheme}:{raw}"
    try:
        return urljoin(base, raw)
    except ValueError:
        return raw


def find_videos(html: str | bytes, base_url: str, *, encoding: str | None = None) -> list[VideoRef]:
    """Every video the page links to or embeds, once each by (provider, video_id), in first-seen order.

    `encoding` is the charset from the HTTP header when known; bytes are otherwise decoded by BOM,
    <meta charset>, UTF-8, else windows-1251. Broken markup, binary bytes and bad JSON-LD give what can be found.
    """
    if isinstance(html, bytes | bytearray | memoryview):
        text = _decode(bytes(html), encoding)
    elif isinstance(html, str):
        text = html
    else:
        return []
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.strip():
        return []
    base_url = (base_url or "").strip()
    root = _parse(text)
    if root is not None:
        tags = _TAGS if "data-href" in text else _TAGS_NO_DIV
        candidates, base_href = _candidates(root, _host_hint(base_url), tags)
    else:  # lxml gave up: absolute URLs in the text are still worth having
        candidates = [(m.group(0), "link") for m in _ABSOLUTE.finditer(text)]
        base_href = None
    if base_href:
        base_url = _absolute(base_href, base_url, "https") if base_url else base_href.strip()
    try:
        base_scheme = urlsplit(base_url).scheme.lower()
    except ValueError:
        base_scheme = ""
    if base_scheme not in ("http", "https"):
        base_scheme = "https"

    seen: set[tuple[str, str]] = set()
    refs: list[VideoRef] = []
    for raw, found_as in candidates:
        found = _classify(_absolute(raw, base_url, base_scheme))
        if found is None or (found[0], found[1]) in seen:
            continue
        seen.add((found[0], found[1]))
        refs.append(VideoRef(found[0], found[1], found[2], found_as))
    return refs
