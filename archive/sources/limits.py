"""What lastseen accepts from people and files, checked before the database sees it.

SQLite stores anything; PostgreSQL refuses NUL characters and values longer than a column. Checking here
gives the same answer on both: a one-line refusal for that input, never a failed batch or a 500.
"""

from __future__ import annotations

import re

from archive.config import ConfigError, parse_duration
from archive.errors import UsageError

MIN_INTERVAL = 60  # a recheck every minute is as often as a polite watcher asks
MAX_INTERVAL = 10 * 365 * 86400  # ten years: past that a date overflows in some databases
MAX_TAG = 200  # SourceTag.tag
MAX_COLLECTION_NAME = 200  # Collection.name
MAX_DESCRIPTION = 10_000
# Letters and digits of any script, and a few marks; no '/', '%', '?', '#' that would break a URL path.
_COLLECTION_NAME = re.compile(r"[^\W_](?:[\w .:@+()-]*[\w)])?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class InputError(UsageError, ValueError):
    """Input refused by a limit; the message says which, in one line (bad input; a ValueError to validators)."""


def recheck_interval(text: str | int) -> int:
    """Seconds in a recheck interval such as '12h', refused outside a minute .. ten years."""
    try:
        seconds = parse_duration(text)
    except (ConfigError, OverflowError) as exc:
        raise InputError(str(exc)) from None
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise InputError(f"a recheck interval must be between 1m and 10 years (3650d), not {text!r}")
    return seconds


def clean_text(value: str, what: str, limit: int) -> str:
    """The value when every database can store it: no NUL or control characters, valid Unicode, not too long."""
    if _CONTROL.search(value):
        raise InputError(f"{what} must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} must be valid Unicode text") from None
    if len(value) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    return value


def clean_tag(tag: str) -> str:
    """A tag stripped and checked."""
    return clean_text(tag.strip(), "a tag", MAX_TAG)


def check_name(name: str, what: str = "collection") -> str:
    """A collection's or an API token's name, stripped and checked: letters, digits, spaces and . _ - : @ + ( ),
    1-200 characters. The one rule for both, on create and on delete, so any name made can be named again."""
    name = clean_text(name.strip(), f"a {what} name", MAX_COLLECTION_NAME)
    if not name:
        raise InputError(f"{what} name must not be empty")
    if not _COLLECTION_NAME.fullmatch(name):
        raise InputError(f"{what} name {name!r} may hold letters, digits, spaces and . _ - : @ + ( ) only, "
                         "starting with a letter or digit")
    return name


def collection_name(name: str) -> str:
    """A new collection's name (check_name)."""
    return check_name(name, "collection")
