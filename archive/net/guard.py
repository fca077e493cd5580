"""The SSRF guard: refuse connections to loopback, private, link-local, metadata and other non-public addresses.

One policy (`NetGuard`) decides, for an address and a port, whether lastseen may connect there; every
outbound client asks it on the connection it actually makes: requests sessions through archive.net.http's
connection classes (resolve once, check, connect to that address), Scrapy through archive.net.resolver (the
reactor's name resolver refuses non-public answers), yt-dlp through archive.net.forward (a local forwarding
proxy that resolves, checks and connects). `check_public_url` is the early check of a URL from outside (the
API, the crawl middleware): it parses the URL once, refuses what two parsers could read differently, and
checks what the host resolves to now.

An unresolvable host passes the URL check: there is nothing to reach now, and a site whose domain is gone is
exactly what lastseen records; the connection-time check sees it again when it resolves.

IPv6 forms that carry an IPv4 address (IPv4-mapped and -compatible, SIIT, NAT64, 6to4, Teredo) are judged by
the IPv4 address they embed as well as by themselves; the local-use NAT64 prefix is never public.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from archive.config import ConfigError

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Resolver = Callable[[str], list[str]]

# Cloud instance-metadata endpoints (AWS, AWS ECS, AWS IPv6, Alibaba, Azure wire server, Oracle, GCP alias).
METADATA_ADDRESSES = frozenset(ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192",
))
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_NAT64 = (ip_network("64:ff9b::/96"), ip_network("64:ff9b:1::/48"))
# RFC 8215's local-use NAT64 prefix is not globally reachable (IANA), whatever the IPv4 address inside.
_LOCAL_NAT64 = ip_network("64:ff9b:1::/48")
# What a host may be made of: letters, digits, '-', '_' and '.' (or any non-ASCII letter, IDNA-encoded by the
# client), or an IPv6 literal in brackets. '%', '\\', '@' and the rest are read differently by different parsers.
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_SCHEMES = {"http": 80, "https": 443}


class BlockedURL(ValueError):
    """A URL (or connection) that would reach a non-public address; the message names the address and why."""


def resolve_host(host: str) -> list[str]:
    """Every address the system resolver gives for a host name; empty when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


# --- the allow-list --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AllowRule:
    """One LASTSEEN_ALLOW_NETWORKS entry: a network and, optionally, the ports allowed on it (inclusive)."""

    network: IPNetwork
    ports: tuple[int, int] | None = None

    def allows(self, address: IPAddress, port: int | None) -> bool:
        if address.version != self.network.version or address not in self.network:
            return False
        return self.ports is None or (port is not None and self.ports[0] <= port <= self.ports[1])

    def __str__(self) -> str:
        if self.ports is None:
            return str(self.network)
        ports = str(self.ports[0]) if self.ports[0] == self.ports[1] else f"{self.ports[0]}-{self.ports[1]}"
        net = f"[{self.network}]" if self.network.version == 6 else str(self.network)
        return f"{net}:{ports}"


def _parse_ports(text: str, entry: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", text)
    low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
    if not match or not 1 <= low <= high <= 65535:
        raise ConfigError(f"LASTSEEN_ALLOW_NETWORKS: not a port or port range in {entry!r}")
    return low, high


def parse_allow(values: Iterable[str]) -> tuple[AllowRule, ...]:
    """Rules from entries like '10.0.0.0/8', '127.0.0.1/32:8080', '127.0.0.1:8000-8099', '[::1]:443', 'fd00::/8'.

    ConfigError names a bad entry.
    """
    rules = []
    for value in values:
        entry = value.strip()
        net_text, ports = entry, None
        if entry.startswith("["):
            net_text, _, rest = entry[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ConfigError(f"LASTSEEN_ALLOW_NETWORKS: not an IP network: {value!r}")
                ports = _parse_ports(rest[1:], value)
        elif entry.count(":") == 1:
            net_text, port_text = entry.split(":")
            ports = _parse_ports(port_text, value)
        try:
            network = ip_network(net_text, strict=False)
        except ValueError:
            raise ConfigError(f"LASTSEEN_ALLOW_NETWORKS: not an IP network: {value!r}") from None
        rules.append(AllowRule(network, ports))
    return tuple(rules)


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The networks of the allow-list entries (ports checked, then left out); ConfigError names a bad entry."""
    return tuple(rule.network for rule in parse_allow(values))


# --- addresses -------------------------------------------------------------------------------------

def embedded_ipv4(address: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 transition form carries: mapped, compatible, SIIT, NAT64, 6to4, Teredo."""
    found: list[IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    value = int(address)
    if value >> 32 == 0 and value > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
        found.append(IPv4Address(value & 0xFFFFFFFF))
    if value >> 32 == 0xFFFF0000:  # SIIT's IPv4-translated ::ffff:0:a.b.c.d (RFC 2765)
        found.append(IPv4Address(value & 0xFFFFFFFF))
    if any(address in net for net in _NAT64):
        found.append(IPv4Address(value & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _own_problem(address: IPAddress) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address in _LOCAL_NAT64:
        return "a local-use NAT64 address, translated by this site's own gateway"
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


def address_problem(address: IPAddress) -> str | None:
    """Why an address must not be fetched for an outside user, or None when it is public."""
    if isinstance(address, IPv6Address):
        for inner in embedded_ipv4(address):
            problem = _own_problem(inner)
            if problem:
                return f"{problem} ({inner}, embedded in an IPv6 address)" if inner != address.ipv4_mapped \
                    else problem
    return _own_problem(address)


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class NetGuard:
    """The policy every outbound connection of lastseen asks: may we connect to this address and port?

    ``trusted`` holds (host, port) pairs the operator configured (a proxy, a Wayback endpoint): connections to
    exactly those are made whatever their address.
    """

    allow: tuple[AllowRule, ...] = ()
    resolve: Resolver = resolve_host
    trusted: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def from_settings(cls, allow_networks: Iterable[str] = (), *, trust: Iterable[str] = (),
                      resolve: Resolver = resolve_host) -> NetGuard:
        """A guard for the allow-list entries, trusting the host and port of each URL in ``trust``."""
        return cls(parse_allow(allow_networks), resolve, frozenset(_host_port(url) for url in trust if url))

    def is_trusted(self, host: str, port: int) -> bool:
        return (host.rstrip(".").lower().strip("[]"), port) in self.trusted

    def problem(self, address: IPAddress | str, port: int | None) -> str | None:
        """Why connecting to this address and port is refused, or None."""
        if isinstance(address, str):
            parsed = _literal(address)
            if parsed is None:
                return f"not an IP address: {address!r}"
            address = parsed
        problem = address_problem(address)
        if problem is None:
            return None
        candidates = [address, *(embedded_ipv4(address) if isinstance(address, IPv6Address) else ())]
        if any(rule.allows(candidate, port) for candidate in candidates for rule in self.allow):
            return None
        return problem

    def check_host(self, host: str, port: int | None) -> None:
        """Resolve a host name (or read a literal) and raise BlockedURL unless every address may be reached.

        For clients that resolve the name again themselves (Apprise, a chained proxy): a rebinding window
        remains there, which the connection-time check of the other clients closes.
        """
        host = host.strip("[]").rstrip(".").lower()
        if not host or (port is not None and self.is_trusted(host, port)):
            return
        literal = _literal(host)
        addresses = [str(literal)] if literal is not None else list(self.resolve(host))
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            addresses.append("127.0.0.1")
        self.check_addresses(host, port, addresses)

    def check_addresses(self, host: str, port: int | None, addresses: Iterable[str]) -> None:
        """Raise BlockedURL unless every address (what ``host`` resolved to) may be connected to on ``port``."""
        for address in addresses:
            problem = self.problem(address, port)
            if problem:
                shown = host if _literal(host) is not None else f"{host} ({address})"
                raise BlockedURL(f"{shown}, {problem}; refused "
                                 "(an operator may allow a network with LASTSEEN_ALLOW_NETWORKS)")


# --- URLs ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Where a URL sends a client: scheme, host (lower case, IDNA for names, no brackets) and port."""

    scheme: str
    host: str
    port: int


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "//" in url else f"//{url}")
    port = parts.port or _SCHEMES.get(parts.scheme.lower(), 80)
    return (parts.hostname or "").rstrip(".").lower(), port


def parse_target(url: str) -> Target:
    """Scheme, host and port of an http(s) URL, read as urllib and urllib3 (requests) both read it.

    BlockedURL for a URL they could read differently: backslashes, percent signs or other odd characters in
    the host, several '@', characters urllib3 stops the authority at; and for non-http(s) URLs.
    """
    from urllib3.util import parse_url

    text = url.strip()
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise BlockedURL(f"URL contains white space or control characters: {text[:200]!r}")
    if "\\" in text:
        raise BlockedURL(f"URL contains a backslash, which clients read differently: {text[:200]!r}")
    try:
        parts = urlsplit(text)
        port = parts.port
        theirs = parse_url(text)
    except ValueError:
        raise BlockedURL(f"not a valid URL: {text[:200]!r}") from None
    if parts.netloc.count("@") > 1:
        raise BlockedURL(f"URL has several '@' in its authority: {text[:200]!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedURL(f"URL has no host: {text[:200]}")
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise BlockedURL(f"only http and https URLs are fetched, not {scheme or 'no scheme'!r}: {text[:200]}")
    if ":" in host:
        if _literal(host) is None or "%" in host:
            raise BlockedURL(f"URL's host is not a valid IPv6 address: {text[:200]!r}")
    elif not (_NAME.fullmatch(host) or (not host.isascii() and not re.search(r"[%\\@/?#:\[\]\s]", host))):
        raise BlockedURL(f"URL's host has characters clients read differently: {text[:200]!r}")
    try:
        ascii_host = host.lower() if host.isascii() else host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise BlockedURL(f"URL's host is not a valid international name: {text[:200]!r}") from None
    their_host = (theirs.host or "").strip("[]").rstrip(".").lower()
    if their_host != host.lower() and their_host != ascii_host or (theirs.port or None) != (port or None):
        raise BlockedURL(f"URL's host reads differently to different parsers: {text[:200]!r}")
    if port == 0:
        raise BlockedURL(f"URL has an invalid port: {text[:200]}")
    return Target(scheme, ascii_host, port or _SCHEMES[scheme])


def check_public_url(url: str, allow_networks: Iterable[str] | NetGuard = (), resolve: Resolver = resolve_host) -> None:
    """Raise BlockedURL when the URL is odd or its host is, or resolves to, a non-public address not allowed.

    The early check of a URL from outside; the connection itself is checked again by the client's guard.
    """
    guard = allow_networks if isinstance(allow_networks, NetGuard) else NetGuard(parse_allow(allow_networks), resolve)
    target = parse_target(url)
    host = target.host
    if guard.is_trusted(host, target.port):
        return
    literal = _literal(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        addresses = list(guard.resolve(host))
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            addresses.append("127.0.0.1")
        elif "." not in host and not addresses:
            raise BlockedURL(f"{url}: {host!r} is a single-label host name, which can only name a local machine")
    try:
        guard.check_addresses(host, target.port, addresses)
    except BlockedURL as exc:
        raise BlockedURL(f"{url} points to {exc}") from None
