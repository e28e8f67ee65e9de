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


# A link's click limit, claimed at the moment of the click: the counter starts from the stored count (the
# drain's), a claim increments it only while it is below the limit, and it lives LIMIT_TTL seconds after
# the last claim (then it starts again from the stored count).
_CLAIM = """
local n = tonumber(redis.call('GET', KEYS[1]) or ARGV[2])
local floor = tonumber(ARGV[2])
if floor > n then n = floor end
if n >= tonumber(ARGV[1]) then
	redis.call('SET', KEYS[1], n, 'EX', ARGV[3])
	return 0
end
redis.call('SET', KEYS[1], n + 1, 'EX', ARGV[3])
return 1
"""
_RECONCILE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > n then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return 1
"""
LIMIT_TTL = 30 * 86400


def claim(client: redis.Redis | None, key: str, limit: int, stored: int) -> bool | None:
	"""Claim one of `limit` slots (a link's max_clicks) atomically: True when the click is within the
	limit, False when the limit is reached (no slot is taken then). `stored` is the count the database
	holds, the counter's floor (it may lag behind, never run ahead). None when Redis is away: the caller
	falls back to the stored count."""
	if client is None:
		return None
	try:
		return bool(client.eval(_CLAIM, 1, key, int(limit), int(stored), LIMIT_TTL))
	except redis.RedisError:
		return None


def reconcile(client: redis.Redis | None, key: str, stored: int) -> None:
	"""Raise a claim counter to the stored count (clicks written while Redis was away count too)."""
	if client is None:
		return
	try:
		client.eval(_RECONCILE, 1, key, int(stored), LIMIT_TTL)
	except redis.RedisError:
		pass
