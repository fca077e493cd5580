"""Fuzzing URL parsing and the net guard with hypothesis: 10,000 generated URLs, no traceback, nothing internal.

Properties: check_url/normalize_url raise only InvalidURL; the guard's URL check raises only BlockedURL;
whatever the guard accepts has a host urllib3 (the client's parser) reads the same way and resolves only to
public addresses; every IPv6 form embedding a non-public IPv4 address is refused.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from archive.config import ConfigError
from archive.net.guard import BlockedURL, NetGuard, address_problem, check_public_url, parse_target
from archive.urls import InvalidURL, check_url, normalize_url

FUZZ = settings(max_examples=2500, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

ipv4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
ipv6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
# IPv6 transition forms around an IPv4 address: mapped, compatible, NAT64, 6to4, Teredo (client inverted).
embedding = st.sampled_from([
    lambda v4: IPv6Address((0xFFFF << 32) | int(v4)),
    lambda v4: IPv6Address(int(v4)),
    lambda v4: IPv6Address((0x64FF9B << 96) | int(v4)),
    lambda v4: IPv6Address((0x2002 << 112) | (int(v4) << 80)),
    lambda v4: IPv6Address((0x20010000 << 96) | (int(v4) << 64)),
    lambda v4: IPv6Address((0x20010000 << 96) | (int(v4) ^ 0xFFFFFFFF)),
])
numeric_spellings = ipv4.flatmap(lambda a: st.sampled_from([
    str(a), str(int(a)), hex(int(a)), ".".join(str(int(p)) for p in str(a).split(".")[:2]) + "." + str(int(a) & 0xFFFF),
    f"%{int(a) >> 24:02x}" + str(a)[len(str(int(a) >> 24)):],
]))
label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
odd = st.text("%\\@:/?#[]. \t!$&'()*+,;=~\x00\x7fé\u3002ß", max_size=4)
host = st.one_of(
    st.lists(label, min_size=1, max_size=4).map(".".join),
    numeric_spellings,
    ipv6.map(lambda a: f"[{a}]"),
    st.builds(lambda f, a: f"[{f(a)}]", embedding, ipv4),
    st.builds(lambda a, b, c: a + b + c, label, odd, label),
    st.text(max_size=20),
)
url = st.one_of(
    st.builds(lambda scheme, user, h, port, path: f"{scheme}://{user}{h}{port}{path}",
              st.sampled_from(["http", "https", "HTTP", "ftp", "file", ""]),
              st.sampled_from(["", "u@", "u:p@", "a@b@", "%40@", "x\\@"]),
              host,
              st.one_of(st.just(""), st.integers(-1, 70000).map(lambda p: f":{p}"), odd.map(lambda o: f":{o}")),
              st.one_of(st.just("/"), st.text(max_size=15).map(lambda t: "/" + t))),
    st.text(max_size=60),
)
addresses = st.lists(st.one_of(ipv4, ipv6, st.builds(lambda f, a: f(a), embedding, ipv4)), max_size=3)


@FUZZ
@given(url)
def test_url_checks_raise_only_their_own_error(text: str) -> None:
    try:
        checked = check_url(text)
        normalize_url(checked)
    except InvalidURL:
        pass


@FUZZ
@given(url, addresses)
def test_what_the_guard_accepts_is_read_alike_and_resolves_only_to_public_addresses(text: str, answer) -> None:
    asked: list[str] = []

    def resolve(name: str) -> list[str]:
        asked.append(name)
        return [str(a) for a in answer]

    try:
        check_public_url(text, (), resolve)
    except BlockedURL:
        return
    target = parse_target(text)
    their_host = (parse_url(text.strip()).host or "").strip("[]").rstrip(".").lower()
    ours = (urlsplit(text.strip()).hostname or "").rstrip(".").lower()
    assert their_host in {target.host, ours}, (text, their_host, target.host)
    literal = None
    try:
        literal = ip_address(target.host)
    except ValueError:
        pass
    reached = [literal] if literal is not None else [ip_address(a) for a in resolve(target.host)]
    assert all(address_problem(a) is None for a in reached), (text, reached)


@FUZZ
@given(embedding, ipv4, st.integers(1, 65535))
def test_ipv6_forms_are_judged_by_the_ipv4_they_embed(form, v4: IPv4Address, port: int) -> None:
    address = form(v4)
    if address_problem(v4) is not None:
        assert address_problem(address) is not None, (address, v4)
        assert NetGuard().problem(str(address), port) is not None


@settings(max_examples=2500, deadline=None, derandomize=True)
@given(st.lists(st.text(max_size=30), max_size=3))
def test_allow_list_parsing_raises_only_config_error(entries: list[str]) -> None:
    try:
        NetGuard.from_settings(entries)
    except ConfigError:
        pass
