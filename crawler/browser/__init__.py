"""Chromium for lastseen: a browser that cannot be steered around the net guard, and answers from the archive."""
