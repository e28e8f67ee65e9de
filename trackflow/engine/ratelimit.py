"""Fixed-window request counting in Redis, for the hot paths that cannot use Frappe's @rate_limit."""

import time

import redis


def allow(
	client: redis.Redis, key: str, limit: int, window_seconds: int = 60, now: float | None = None
) -> bool:
	"""Count one request against `key` and say whether it is within `limit` per window.

	One round trip (INCR and EXPIRE pipelined, no transaction needed: the window key expires on its own).
	If Redis is down the request is allowed: a limiter must never take the redirect down with it.
	"""
	window = int((time.time() if now is None else now) // window_seconds)
	bucket = f"{key}:{window}"
	try:
		pipe = client.pipeline(transaction=False)
		pipe.incr(bucket)
		pipe.expire(bucket, window_seconds + 1)
		count, _ = pipe.execute()
	except redis.RedisError:
		return True
	return int(count) <= limit
