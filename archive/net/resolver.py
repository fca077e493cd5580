"""The crawl's name resolver (Scrapy's TWISTED_DNS_RESOLVER): Twisted connects only where the net guard allows.

Scrapy's HTTP downloads connect through Twisted endpoints, which ask the reactor's name resolver for the
addresses of a host (IP literals included) and connect to what it answers. This resolver asks the system
(with Scrapy's DNS cache), checks every answer with archive.net.guard for the port being connected to, and
answers nothing when one is refused: the download fails with a DNS error and no connection is made. The
address checked is the address connected to; no second lookup happens. The configured proxy
(LASTSEEN_PROXY) is the operator's and is reached whatever its address.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from scrapy.resolver import CachingHostnameResolver
from twisted.internet.interfaces import IAddress, IHostResolution, IResolutionReceiver
from zope.interface import implementer

from archive.net.guard import BlockedURL, NetGuard

logger = logging.getLogger(__name__)


@implementer(IResolutionReceiver)
class _CheckedReceiver:
    """Holds the answers back until all are in, then passes them on only if the guard allows every one."""

    def __init__(self, receiver: IResolutionReceiver, host: str, port: int, guard: NetGuard,
                 refused: Callable[[str], None]) -> None:
        self.receiver, self.host, self.port, self.guard, self.refused = receiver, host, port, guard, refused
        self.addresses: list[Any] = []

    def resolutionBegan(self, resolution: IHostResolution) -> None:  # noqa: N802 - Twisted's interface
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:  # noqa: N802
        self.addresses.append(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        addresses = self.addresses
        if not self.guard.is_trusted(self.host, self.port):
            try:
                self.guard.check_addresses(self.host, self.port or None, [str(a.host) for a in addresses])
            except BlockedURL as exc:
                self.refused(str(exc))
                addresses = []
        for address in addresses:
            self.receiver.addressResolved(address)
        self.receiver.resolutionComplete()


class GuardedResolver(CachingHostnameResolver):
    """Scrapy's caching hostname resolver with the net guard on every answer."""

    def __init__(self, reactor: Any, cache_size: int, guard: NetGuard | None = None, stats: Any = None) -> None:
        super().__init__(reactor, cache_size)
        self.guard = guard or NetGuard()
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:  # type: ignore[override]
        """Built once per process (Scrapy passes the CrawlerProcess): LASTSEEN_SETTINGS of the process settings."""
        resolver = super().from_crawler(crawler, reactor)
        settings = crawler.settings.get("LASTSEEN_SETTINGS")
        allow = getattr(settings, "allow_networks", ())
        proxy = getattr(settings, "proxy", "") or ""
        resolver.guard = NetGuard.from_settings(allow, trust=(proxy,) if proxy else ())
        resolver.stats = getattr(crawler, "stats", None)
        return resolver

    def _refused(self, why: str) -> None:
        logger.warning("refused connection: %s", why)
        if self.stats is not None:
            self.stats.inc_value("lastseen/netguard/resolver_refused")

    def resolveHostName(self, resolutionReceiver: IResolutionReceiver, hostName: str,  # noqa: N802
                        portNumber: int = 0, addressTypes: Sequence[type[IAddress]] | None = None,
                        transportSemantics: str = "TCP") -> IHostResolution:
        checked = _CheckedReceiver(resolutionReceiver, hostName, portNumber, self.guard, self._refused)
        return super().resolveHostName(checked, hostName, portNumber, addressTypes, transportSemantics)
