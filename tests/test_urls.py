"""URL normalization: one tracked URL however it was written."""

from __future__ import annotations

import pytest

from archive.urls import InvalidURL, check_url, domain_of, normalize_url, url_hash, url_key, without_userinfo


@pytest.mark.parametrize("given, expected", [
    ("HTTP://Example.COM:80/a?b=1#frag", "http://example.com/a?b=1"),
    ("https://example.com:443", "https://example.com/"),
    ("https://example.com:8443/x", "https://example.com:8443/x"),
    ("https://news.example/a?utm_source=tw&utm_medium=x&id=7&fbclid=abc", "https://news.example/a?id=7"),
    ("https://news.example/a?z=1&a=2", "https://news.example/a?z=1&a=2"),
    ("https://news.example/a?q=%2Fx+y&flag", "https://news.example/a?q=%2Fx+y&flag"),
    ("https://пример.рф/новости", "https://xn--e1afmkfd.xn--p1ai/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8"),
    ("https://example.com/a%2fb", "https://example.com/a%2fb"),
    ("  https://example.com/path  ", "https://example.com/path"),
    ("https://user:pass@Example.com/a", "https://example.com/a"),
    ("https://user@example.com:8443/a", "https://example.com:8443/a"),
])
def test_normalize(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_same_url_written_differently_has_one_hash() -> None:
    a = url_hash(normalize_url("HTTPS://WWW.Example.com:443/story?utm_campaign=x#top"))
    b = url_hash(normalize_url("https://www.example.com/story"))
    assert a == b and len(a) == 64
    assert url_hash(normalize_url("https://www.example.com/other")) != a


@pytest.mark.parametrize("bad, message", [
    ("ftp://example.com/file", "only http and https"),
    ("javascript:alert(1)", "only http and https"),
    ("example.com/no-scheme", "only http and https"),
    ("http:///nohost", "no valid host"),
    ("http://exa mple.com/", "white space"),
    ("http://example.com:99999/", "not a valid URL"),
    ("", "empty URL"),
])
def test_invalid(bad: str, message: str) -> None:
    with pytest.raises(InvalidURL, match=message):
        check_url(bad)


def test_domain_drops_www() -> None:
    assert domain_of("https://WWW.Meduza.io/news") == "meduza.io"
    assert domain_of("https://t.me/x") == "t.me"


def test_the_url_as_given_less_its_credentials() -> None:
    """What is fetched and stored: the URL as written (tracking parameters and case kept), never userinfo."""
    assert without_userinfo(" https://u:p%40ss@News.example:8443/a?utm_source=x&id=1#f ") == \
        "https://News.example:8443/a?utm_source=x&id=1#f"
    assert without_userinfo("https://news.example/a@b?c=d@e") == "https://news.example/a@b?c=d@e"
    assert url_key("https://u:p@news.example/a?utm_source=x") == url_hash("https://news.example/a")
