"""A tiny per-process cache with a time limit, for the hot paths (/r/ and collect) that must not pay a
Redis round trip per request for data that changes rarely (settings, site keys). Keys include the site.

Bounded (least recently used entries go first), so no key a stranger can vary can grow it without end."""

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MAX_ENTRIES = 256

_entries: "OrderedDict[tuple, tuple[float, Any]]" = OrderedDict()


def cached(key: tuple, ttl: float, load: Callable[[], Any]) -> Any:
	"""`load()`'s value for `key`, reused for `ttl` seconds in this process."""
	entry = _entries.get(key)
	now = time.monotonic()
	if entry and entry[0] > now:
		_entries.move_to_end(key)
		return entry[1]
	value = load()
	_entries[key] = (now + ttl, value)
	_entries.move_to_end(key)
	while len(_entries) > MAX_ENTRIES:
		_entries.popitem(last=False)
	return value


def forget(key: tuple) -> None:
	_entries.pop(key, None)
