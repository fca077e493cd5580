"""Pages that try to steer a browser to an address the net guard refuses: the techniques of issue 21 and more.

A page aims at every target given (canaries' base URLs, http://host:port); a technique that works reaches a
canary within a second or two of loading.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit


def _rules(kind: str, urls: list[str]) -> str:
    return f'<script type="speculationrules">{json.dumps({kind: [{"source": "list", "urls": urls}]})}</script>'


def _each(targets: list[str], make) -> str:
    return "".join(make(t, urlsplit(t)) for t in targets)


def steering_page(technique: str, targets: list[str]) -> str:
    """The HTML of a page that tries `technique` (one of TECHNIQUES) against every target."""
    body = _bodies(targets)[technique]
    return f"<!doctype html><html><head><title>{technique}</title></head><body><p>{technique}</p>{body}</body></html>"


def _bodies(targets: list[str]) -> dict[str, str]:
    return {
        "popup": _each(targets, lambda t, u: f'<script>window.open("{t}/popup")</script>'),
        "form_post_blank": _each(targets, lambda t, u: f'<form method="post" target="_blank" action="{t}/post">'
                                 '<input name="secret" value="body"></form>')
        + "<script>for (const f of document.forms) f.submit()</script>",
        "prefetch": _rules("prefetch", [f"{t}/prefetch" for t in targets]),
        "prerender": _rules("prerender", [f"{t}/prerender" for t in targets]),
        "prerender_navigate": _rules("prerender", [f"{t}/internal" for t in targets])
        + f'<script>setTimeout(() => {{ location.href = "{targets[0]}/internal" }}, 700)</script>',
        "link_prefetch": _each(targets, lambda t, u: f'<link rel="prefetch" href="{t}/link-prefetch">'),
        "websocket": _each(targets, lambda t, u: f'<script>new WebSocket("ws://{u.netloc}/ws")</script>'),
        "iframe": _each(targets, lambda t, u: f'<iframe src="{t}/frame"></iframe>'),
        "webrtc_udp": _each(targets, lambda t, u: _webrtc(f"stun:{u.netloc}")),
        "webrtc_tcp": _each(targets, lambda t, u: _webrtc(f"turn:{u.netloc}?transport=tcp")),
        "worker": _each(targets, lambda t, u: "<script>new Worker(URL.createObjectURL(new Blob(["
                        f"'fetch(\"{t}/worker\", {{mode: \"no-cors\"}})'], {{type: 'text/javascript'}})))</script>"),
        "beacon": _each(targets, lambda t, u: f'<script>navigator.sendBeacon("{t}/beacon", "body")</script>'),
        "eventsource": _each(targets, lambda t, u: f'<script>new EventSource("{t}/events")</script>'),
        "img": _each(targets, lambda t, u: f'<img src="{t}/img">'),
        "fetch": _each(targets, lambda t, u: f'<script>fetch("{t}/fetch", {{mode: "no-cors"}})</script>'),
        "meta_refresh": f'<meta http-equiv="refresh" content="0;url={targets[0]}/refresh">',
    }


def _webrtc(server: str) -> str:
    """A peer connection that gathers candidates through `server` (STUN over UDP, TURN over TCP)."""
    ice = json.dumps([{"urls": server, "username": "u", "credential": "p"}])
    return ("<script>(async () => { const pc = new RTCPeerConnection({iceServers: " + ice + "});"
            "pc.createDataChannel('d'); await pc.setLocalDescription(await pc.createOffer()); })()</script>")


TECHNIQUES = tuple(_bodies(["http://x:1"]))
