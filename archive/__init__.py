"""lastseen's persistent side: settings, data model, storage, WARC, Wayback, status and alerts."""

__version__ = "0.1.0"
