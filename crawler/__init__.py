"""The Scrapy project that fetches pages and videos and captures them as WARC."""
