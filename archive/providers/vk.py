"""VK: video and clip pages (owner_id), the video_ext.php player and ?z=video... overlays."""

from __future__ import annotations

import re

from archive.providers.base import Found, VideoURL, is_num, query_params

NAME = "vk"
DOMAINS = ("vk.com", "vk.ru", "vkvideo.ru")
HINTS = ("vk.", "vkvideo")

_PATH = re.compile(r"/(?:video|clip)(-?\d+_\d+)(?=/|$)")
_Z = re.compile(r"(?:video|clip)(-?\d+_\d+)")


def recognize(url: VideoURL) -> Found | None:
    """The owner_video id ("-1_2") and its vk.com page."""
    vid = None
    if url.path.lower() == "/video_ext.php":
        q = query_params(url.query)
        oid, num = q.get("oid", ""), q.get("id", "")
        if is_num(oid.removeprefix("-")) and is_num(num):
            vid = f"{oid}_{num}"
    else:
        match = _PATH.search(url.path)
        if match:
            vid = match.group(1)
        elif url.query:
            match = _Z.search(query_params(url.query).get("z", ""))
            vid = match.group(1) if match else None
    if vid is None:
        return None
    return NAME, vid, f"https://vk.com/video{vid}"
