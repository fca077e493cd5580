"""Outbound plumbing written once: HTTP sessions (http), the SSRF guard (guard), rate limits and backoff (pacing)."""
