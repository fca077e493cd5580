"""The Wayback target the settings name: a pywb collection, else the Internet Archive (SPN2 when keyed).

Kept apart from the client so the targets can build on the client without the client knowing them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from archive.config import ConfigError
from archive.net.http import make_session
from archive.net.pacing import Clock
from archive.wayback.client import DEFAULT_TIMEOUT, WaybackTarget
from archive.wayback.ia import INTERNET_ARCHIVE_URL, InternetArchive
from archive.wayback.pywb import Pywb

if TYPE_CHECKING:
    from archive.config import Settings


def target_from_settings(settings: Settings, *, session: requests.Session | None = None,
                         clock: Clock | None = None) -> WaybackTarget:
    """pywb when a collection is named, else the Internet Archive (SPN2 when both keys are set)."""
    session = session or make_session(settings.user_agent, settings.proxy, allow_networks=settings.allow_networks,
                                      trust=(settings.wayback_url,))
    timeout = max(float(settings.download_timeout), DEFAULT_TIMEOUT)
    if settings.wayback_collection:
        if settings.wayback_url.rstrip("/") == INTERNET_ARCHIVE_URL:
            raise ConfigError("LASTSEEN_WAYBACK_COLLECTION names a pywb collection: "
                              "set LASTSEEN_WAYBACK_URL to that pywb's address")
        return Pywb(settings.wayback_url, settings.wayback_collection, session, clock, timeout=timeout)
    if bool(settings.wayback_access_key) != bool(settings.wayback_secret_key):
        raise ConfigError("LASTSEEN_WAYBACK_ACCESS_KEY and LASTSEEN_WAYBACK_SECRET_KEY go together: "
                          "set both or neither")
    return InternetArchive(settings.wayback_url, settings.wayback_access_key, settings.wayback_secret_key, session,
                           clock, timeout=timeout, if_not_archived_within=settings.wayback_skip_window or None)
