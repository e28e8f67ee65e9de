"""A tiny per-process cache with a time limit, for the hot paths (/r/ and collect) that must not pay a
Redis round trip per request for data that changes rarely (settings, site keys). Keys include the site."""

import time
from collections.abc import Callable
from typing import Any

_entries: dict[tuple, tuple[float, Any]] = {}


def cached(key: tuple, ttl: float, load: Callable[[], Any]) -> Any:
	"""`load()`'s value for `key`, reused for `ttl` seconds in this process."""
	entry = _entries.get(key)
	now = time.monotonic()
	if entry and entry[0] > now:
		return entry[1]
	value = load()
	_entries[key] = (now + ttl, value)
	return value


def forget(key: tuple) -> None:
	_entries.pop(key, None)
