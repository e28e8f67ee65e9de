"""The site's Redis queues (clicks, collect), kept on redis_queue where nothing is evicted or cleared."""

from typing import Literal

import frappe
import redis

from trackflow.engine.queue import RedisQueue

Stream = Literal["clicks", "collect"]
STREAMS: tuple[Stream, ...] = ("clicks", "collect")

_connections: dict[str, redis.Redis] = {}
_queues: dict[tuple[str, str], RedisQueue] = {}


def redis_queue_connection() -> redis.Redis:
	"""Frappe's connection to redis_queue (with RQ credentials when the bench uses them), one per process.

	redis_cache would be wrong here: it evicts keys under memory pressure and `bench clear-cache` deletes
	every key of the site.
	"""
	url = frappe.conf.redis_queue
	if url not in _connections:
		from frappe.utils.background_jobs import get_redis_conn

		_connections[url] = get_redis_conn()
	return _connections[url]


def get_queue(stream: Stream) -> RedisQueue:
	"""The reliable queue of one stream for the current site (keys under "trackflow|<site>")."""
	key = (frappe.local.site, stream)
	if key not in _queues:
		_queues[key] = RedisQueue(redis_queue_connection(), stream, prefix=f"trackflow|{frappe.local.site}")
	return _queues[key]
