"""The SSRF guard: refuse URLs whose host is (or resolves to) a loopback, private, link-local or metadata address.

Used where a URL from outside is accepted (the API) and where one is fetched (the crawler, before each
request and each redirect). An unresolvable host passes: there is nothing to reach now, and a site whose
domain is gone is exactly what lastseen records; the fetch-time check sees it again when it resolves.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Resolver = Callable[[str], list[str]]

# Cloud instance-metadata endpoints (AWS, AWS ECS, AWS IPv6, Alibaba, Azure wire server, Oracle, GCP alias).
METADATA_ADDRESSES = frozenset(ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192",
))
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class BlockedURL(ValueError):
    """A URL that would reach a non-public address; the message names the address and why."""


def resolve_host(host: str) -> list[str]:
    """Every address the system resolver gives for a host name; empty when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from settings like '10.0.0.0/8' or '192.168.1.5'; ValueError names a bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"LASTSEEN_ALLOW_NETWORKS: not an IP network: {value!r}") from None
    return tuple(networks)


def address_problem(address: IPAddress) -> str | None:
    """Why an address must not be fetched for an outside user, or None when it is public."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved, non-public address"
    return None


def _allowed(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    candidates = [address]
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(candidate in network for candidate in candidates for network in networks
               if candidate.version == network.version)


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def check_public_url(url: str, allow_networks: Iterable[str] = (), resolve: Resolver = resolve_host) -> None:
    """Raise BlockedURL when the URL's host is, or resolves to, a non-public address not explicitly allowed."""
    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".").lower()
    except ValueError:
        raise BlockedURL(f"not a valid URL: {url!r}") from None
    if not host:
        raise BlockedURL(f"URL has no host: {url}")
    networks = parse_networks(allow_networks)
    literal = _literal(host)
    if literal is not None:
        addresses: list[IPAddress | None] = [literal]
    else:
        addresses = [_literal(a) for a in resolve(host)]
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            addresses.append(ip_address("127.0.0.1"))
        elif "." not in host and not addresses:
            raise BlockedURL(f"{url}: {host!r} is a single-label host name, which can only name a local machine")
    for address in addresses:
        if address is None:
            continue
        problem = address_problem(address)
        if problem and not _allowed(address, networks):
            shown = host if literal is not None else f"{host} ({address})"
            raise BlockedURL(f"{url} points to {shown}, {problem}; refused "
                             "(an operator may allow a network with LASTSEEN_ALLOW_NETWORKS)")
