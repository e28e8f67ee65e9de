"""Fixed-window request counting in Redis, for the hot paths that cannot use Frappe's @rate_limit."""

import ipaddress
import time

import redis


def client_key(ip: str | None) -> str:
	"""The unit a per-client limit counts: an IPv4 address, or an IPv6 client's /64 (one subscriber gets a
	whole /64, so counting single IPv6 addresses lets one client rotate through 2**64 of them)."""
	if not ip:
		return "-"
	try:
		address = ipaddress.ip_address(ip.strip())
	except ValueError:
		return "-"
	if address.version == 6:
		if address.ipv4_mapped:  # a dual-stack proxy's form of an IPv4 client
			return str(address.ipv4_mapped)
		return f"{ipaddress.ip_network(f'{address}/64', strict=False).network_address}/64"
	return str(address)


def allow(
	client: redis.Redis | None, key: str, limit: int, window_seconds: int = 60, now: float | None = None
) -> bool:
	"""Count one request against `key` and say whether it is within `limit` per window.

	One round trip (INCR and EXPIRE pipelined, no transaction needed: the window key expires on its own).
	If Redis is down (or `client` is None: the caller knows it is) the request is allowed: a limiter must
	never take the redirect down with it.
	"""
	if client is None:
		return True
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
