"""Scrapy settings of lastseen's crawl; `scrapy_settings()` derives them from lastseen's own Settings."""

from __future__ import annotations

from typing import Any

from scrapy.settings import default_settings

from archive.config import Settings

# The net guard where connections are made: Twisted connects only to addresses this resolver allows
# (loopback, private, link-local, metadata... refused unless LASTSEEN_ALLOW_NETWORKS allows them).
# Scrapy 2.14 renamed DNS_RESOLVER to TWISTED_DNS_RESOLVER (the old name still works, with a warning).
_RESOLVER_SETTING = "TWISTED_DNS_RESOLVER" if hasattr(default_settings, "TWISTED_DNS_RESOLVER") else "DNS_RESOLVER"

BOT_NAME = "lastseen"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Pages that answer 404 or 410 are evidence too: they reach the spider and are archived.
HTTPERROR_ALLOW_ALL = True
ROBOTSTXT_OBEY = True
# No door into the crawl process: Scrapy's telnet console and its RemoteControl extension (arbitrary Python
# over a loopback port, with a token file left behind by every killed crawl) stay off.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
# Cookies stay on (consent and bot-check pages need them), judged by the installed Public Suffix List
# (crawler.cookies): Scrapy's own middleware would download the list around the net guard.
COOKIES_ENABLED = True
REDIRECT_MAX_TIMES = 10
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 30.0
CONCURRENT_REQUESTS = 32
# Each response gives one item and a few requests; Scrapy's default of 100 starts 100 tasks per response.
CONCURRENT_ITEMS = 8
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.0
AUTOTHROTTLE_MAX_DELAY = 30.0
DOWNLOAD_DELAY = 0.0
LOG_LEVEL = "INFO"

DOWNLOADER_MIDDLEWARES = {
    # The same guard before a request is queued: a refusal with its reason, no retries, no robots.txt fetch.
    "crawler.middlewares.NetGuardMiddleware": 50,
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    "crawler.cookies.CookiesMiddleware": 700,  # Scrapy's place for it
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    # A page's requisites share its byte cap: each gets at most what is left (after the guard has passed it).
    "crawler.requisites.RequisiteBudgetMiddleware": 60,
    # Pages of collections captured in a browser: rendered and recorded there, after robots.txt and the other
    # request middlewares (last, where Scrapy's download handler would be).
    "crawler.browser.middleware.BrowserCaptureMiddleware": 950,
}
EXTENSIONS = {
    "crawler.extensions.WarcCapture": 100,
    "crawler.screenshots.Screenshots": 200,
}
ITEM_PIPELINES = {
    "crawler.pipelines.VideoPipeline": 200,
    "crawler.pipelines.VideoMetadataPipeline": 300,
    # A captured page's images, styles, fonts, scripts, icons and frames, fetched in the same crawl.
    "crawler.requisites.RequisitePipeline": 400,
    "crawler.pipelines.CaptureRowPipeline": 800,
    # After the capture row is handed over: a direct link's capture is its media record.
    "crawler.media.MediaPipeline": 850,
    "crawler.pipelines.FailurePipeline": 900,
}


def scrapy_settings(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Scrapy settings for a crawl with these lastseen Settings."""
    values: dict[str, Any] = {name: value for name, value in globals().items() if name.isupper()}
    values.update({
        "LASTSEEN_SETTINGS": settings,
        "USER_AGENT": settings.user_agent,
        "CONCURRENT_REQUESTS_PER_DOMAIN": settings.concurrency_per_host,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(settings.concurrency_per_host),
        "DOWNLOAD_TIMEOUT": settings.download_timeout,
        "DOWNLOAD_MAXSIZE": settings.page_size_cap,
        "DOWNLOAD_WARNSIZE": min(settings.page_size_cap, 32 * 1024**2),
        "RETRY_TIMES": settings.crawl_retries,
        _RESOLVER_SETTING: "archive.net.resolver.GuardedResolver",
    })
    values.update(overrides)
    return values
