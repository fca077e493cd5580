"""Scrapy's cookie middleware with the Public Suffix List of the installed tldextract package, never fetched.

Scrapy asks tldextract whether a cookie's domain is a public suffix (so `Domain=.co.uk` is refused). A default
TLDExtract downloads the list from publicsuffix.org on first use, with its own requests session: by direct
DNS and connection, around the net guard and the proxy setting. The crawl keeps cookies (consent and bot-check
pages need them) and judges domains by the list snapshot shipped inside the package, cached nowhere.
"""

from __future__ import annotations

from typing import Any

from scrapy.downloadermiddlewares import cookies
from tldextract import TLDExtract

# No URLs, no disk cache: the snapshot in the package is the list (refreshed when the package is upgraded).
OFFLINE_SUFFIXES = TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True,
                              include_psl_private_domains=True)


class CookiesMiddleware(cookies.CookiesMiddleware):
    """Scrapy's CookiesMiddleware, its public-suffix check answered by the package's own list."""

    @classmethod
    def from_crawler(cls, crawler: Any) -> CookiesMiddleware:
        if not hasattr(cookies, "_split_domain"):  # Scrapy moved its extractor: fail loudly, not fetch quietly
            raise RuntimeError("scrapy.downloadermiddlewares.cookies has no _split_domain to give the offline "
                               "Public Suffix List to")
        cookies._split_domain = OFFLINE_SUFFIXES
        return super().from_crawler(crawler)
