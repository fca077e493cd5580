"""Every HTTP server the tests run, in one place (as Scrapy keeps tests/mockserver/).

site (a scriptable web site and proxy), proxy (a region's egress that refuses some paths), ia (Wayback
protocols), api (uvicorn), pywb, seaweed (S3), receiver (webhooks).
"""
