"""Launching Chromium so that no page can steer it around the net guard.

Every connection Chromium makes (pages, popups, workers, speculative loads, WebSockets, WebRTC's TURN, its own
background traffic) goes to one proxy, loopback included (`<-loopback>` removes Chromium's implicit bypass);
WebRTC may not send UDP that does not go through that proxy; new windows, speculative loading and downloads
are off. The sandbox is on: as root, Chromium runs as an unprivileged user (`chromium_user`) through setpriv,
and only when the sandbox cannot start does it run without one, with the reason logged.
"""

from __future__ import annotations

import logging
import os
import pwd
import shlex
import tempfile
from pathlib import Path
from typing import Any

from archive.config import Settings
from archive.net.http import one_line

logger = logging.getLogger(__name__)

HARDENING_ARGS = [
    "--disable-gpu",
    "--block-new-web-contents",  # window.open, target=_blank, form posts to a new window: no new page at all
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",  # WebRTC: TCP through the proxy (TURN) only
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--no-pings",  # <a ping> beacons
    "--dns-prefetch-disable",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--no-first-run",
]
# Playwright lets pages open windows; a page we render may not
DROPPED_DEFAULT_ARGS = ["--disable-popup-blocking"]


def proxy_option(proxy_url: str) -> dict[str, str]:
    """Playwright's proxy option: everything through proxy_url, loopback and all."""
    return {"server": proxy_url, "bypass": "<-loopback>"}


_launchers: dict[tuple[str, str], str] = {}


def _as_user(chromium: str, user: str, folder: Path) -> str:
    """A launcher that hands Playwright's temporary profile to `user` and runs Chromium as that user."""
    entry = pwd.getpwnam(user)
    script = folder / "chromium-as-user"
    script.write_text(
        "#!/bin/sh\n"
        "# Chromium as an unprivileged user, so its sandbox can start (it refuses to as root)\n"
        "for arg; do\n"
        "  case \"$arg\" in --user-data-dir=*) profile=\"${arg#--user-data-dir=}\";"
        f" chown -R {entry.pw_uid}:{entry.pw_gid} \"$profile\";; esac\n"
        "done\n"
        "export HOME=\"${profile:-/tmp}\"\n"
        f"exec setpriv --reuid={entry.pw_uid} --regid={entry.pw_gid} --clear-groups -- {shlex.quote(chromium)}"
        " \"$@\"\n")
    script.chmod(0o755)
    return str(script)


def _launcher(settings: Settings, chromium: str) -> str:
    """The executable Playwright starts: Chromium itself, or a setpriv launcher when this process is root."""
    if os.geteuid() != 0:
        return chromium
    user = settings.chromium_user
    try:
        pwd.getpwnam(user)
    except KeyError:
        logger.warning("no user %r to run Chromium as (setup.sh creates it): running it as 'nobody'", user)
        user = "nobody"
    key = (chromium, user)
    if key not in _launchers:  # one small script per process, not one per browser
        _launchers[key] = _as_user(chromium, user, Path(tempfile.mkdtemp(prefix="lastseen-chromium-")))
    return _launchers[key]


async def launch(playwright: Any, settings: Settings, chromium: str, proxy_url: str,
                 extra_args: list[str] | None = None) -> Any:
    """A headless Chromium whose every connection goes through proxy_url, sandboxed where it can be."""
    options = {"executable_path": _launcher(settings, chromium), "headless": True,
               "args": [*HARDENING_ARGS, *(extra_args or [])],
               "ignore_default_args": DROPPED_DEFAULT_ARGS, "proxy": proxy_option(proxy_url)}
    try:
        return await playwright.chromium.launch(chromium_sandbox=True, **options)
    except Exception as exc:  # Playwright's own error kinds; the reason is in its message
        logger.warning("Chromium's sandbox did not start, running it without one: %s", one_line(str(exc), 300))
    return await playwright.chromium.launch(chromium_sandbox=False, **options)


async def new_context(browser: Any, **options: Any) -> Any:
    """A fresh profile for one page: no service workers, no downloads, no new windows that stay open."""
    context = await browser.new_context(service_workers="block", accept_downloads=False, **options)
    context.on("page", _close_extra)
    return context


async def _close_extra(page: Any) -> None:
    """A window the page opened anyway (--block-new-web-contents should stop it) is closed at once."""
    if await page.opener() is not None:
        await page.close()
