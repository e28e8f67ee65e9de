"""The site's Redis queues (clicks, collect, events), kept on redis_queue where nothing is evicted or cleared.

The request paths (/r/ and collect) must answer within their budget whatever the state of redis_queue, so
this module keeps its own connection with short timeouts and no retry loop (Frappe's `get_redis_conn`
retries for about five seconds), and remembers an outage for a few seconds per process: while Redis is
away, callers get `QueueUnavailable` at once and take their fallback (the redirect writes the click itself,
collect answers 503 with Retry-After).
"""

import os
import time
from collections.abc import Sequence
from typing import Literal

import frappe
import redis

from trackflow.engine.queue import RedisQueue

Stream = Literal["clicks", "collect", "events"]
# clicks: /r/; collect: the embed script; events: server-side events (trackflow.api.tracking.track_event)
STREAMS: tuple[Stream, ...] = ("clicks", "collect", "events")

CONNECT_TIMEOUT = 0.25  # seconds; a local Redis answers in well under a millisecond
COMMAND_TIMEOUT = 2.0  # a request path never waits longer for one command
OUTAGE_SECONDS = 5.0  # after a failure, this process skips Redis for so long
# Records a stream may hold before new ones are shed (and counted): a stalled drain cannot fill Redis's
# memory. A site config key overrides each (trackflow_max_backlog_clicks / _collect / _events).
MAX_BACKLOG: dict[str, int] = {"clicks": 2_000_000, "collect": 200_000, "events": 200_000}

_connections: dict[str, redis.Redis] = {}
_queues: dict[tuple[str, str], RedisQueue] = {}
_down_until: dict[str, float] = {}


class QueueUnavailable(redis.ConnectionError):
	"""redis_queue failed within the last OUTAGE_SECONDS: take the fallback without trying."""


def redis_queue_connection() -> redis.Redis:
	"""A plain redis.Redis on redis_queue (with RQ's credentials when the bench uses them), one per process.

	redis_cache would be wrong here: it evicts keys under memory pressure, `bench clear-cache` deletes
	every key of the site and `bench build` flushes the whole server.
	"""
	url = frappe.conf.redis_queue
	if url not in _connections:
		credentials = {}
		if frappe.conf.get("use_rq_auth"):
			credentials = {"username": frappe.conf.rq_username, "password": frappe.conf.rq_password}
		elif os.environ.get("RQ_ADMIN_PASWORD"):  # sic: the variable Frappe reads
			credentials = {"username": "default", "password": os.environ["RQ_ADMIN_PASWORD"]}
		_connections[url] = redis.Redis.from_url(
			url,
			socket_connect_timeout=CONNECT_TIMEOUT,
			socket_timeout=COMMAND_TIMEOUT,
			health_check_interval=30,
			**{k: v for k, v in credentials.items() if v},
		)
	return _connections[url]


def available() -> bool:
	"""False while this process remembers a recent redis_queue failure."""
	return _down_until.get(frappe.conf.redis_queue, 0.0) <= time.monotonic()


def mark_unavailable() -> None:
	_down_until[frappe.conf.redis_queue] = time.monotonic() + OUTAGE_SECONDS


def get_queue(stream: Stream) -> RedisQueue:
	"""The reliable queue of one stream for the current site (keys under "trackflow|<site>")."""
	key = (frappe.local.site, stream)
	if key not in _queues:
		_queues[key] = RedisQueue(
			redis_queue_connection(),
			stream,
			prefix=f"trackflow|{frappe.local.site}",
			max_backlog=int(frappe.conf.get(f"trackflow_max_backlog_{stream}") or MAX_BACKLOG[stream]),
		)
	return _queues[key]


def enqueue(stream: Stream, record: dict, limits: Sequence[tuple[str, int]] = ()) -> str | None:
	"""Push one record for the request paths, counting the request against `limits` (key, per minute) in
	the same round trip: its id, or None when the stream is full (shed and counted); RateLimited when over
	a limit. Raises redis.RedisError (QueueUnavailable while an outage is remembered) so the caller falls
	back (and its limits fail open)."""
	if not available():
		raise QueueUnavailable("redis_queue is unavailable")
	try:
		return get_queue(stream).enqueue(record, limits)
	except redis.RedisError:
		mark_unavailable()
		raise


def limiter_connection() -> redis.Redis | None:
	"""The connection the request paths count rate limits on, or None during an outage (limits fail open)."""
	return redis_queue_connection() if available() else None


def enqueue_batch(stream: Stream, records: list[dict]) -> int:
	"""Push many records in one round trip for an authenticated batch (server-side events): how many
	were queued (0 when the stream is at its backlog cap, counted as shed). Raises redis.RedisError like
	`enqueue`."""
	if not available():
		raise QueueUnavailable("redis_queue is unavailable")
	queue = get_queue(stream)
	try:
		if queue.max_backlog is not None and queue.backlog() + len(records) > queue.max_backlog:
			return 0
		return len(queue.enqueue_many(records))
	except redis.RedisError:
		mark_unavailable()
		raise
