"""A crash-safe Redis queue of small records (clicks, collected events), drained in batches into a sink.

A record the sink cannot store never blocks the records behind it: a failing batch is split in halves until
the failing records stand alone, and each of those goes to a bounded dead-letter list with its reason.
"""

import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import redis

from trackflow.engine.errors import ValidationError
from trackflow.engine.privacy import scrub_personal_data

Sink = Callable[[list[dict]], None]
# Says whether a sink's error is the store's (a lost connection, a deadlock, a timeout: the whole batch goes
# back and is retried later) rather than a record's (the record is set aside as a dead letter).
IsTransient = Callable[[BaseException], bool]

DEAD_LETTER_CAP = 10_000  # dead letters kept per stream; older ones are dropped and counted

# Move up to ARGV[1] records from the tail (oldest end) of the main list to the head of this worker's
# processing list, and return them, in one atomic step: a crash either before or after it leaves every
# record in exactly one of the two lists. LRANGE + LTRIM + RPUSH is O(n) once, where n LMOVEs are n
# calls. A worker holds one batch at a time. RPUSH runs in chunks: Lua's unpack() takes a few thousand
# values at most. The heartbeat is refreshed with every batch.
_TAKE = """
if redis.call('LLEN', KEYS[2]) > 0 then
	return redis.error_reply('TRACKFLOW_UNCOMMITTED processing list not empty: commit() or release() first')
end
local n = tonumber(ARGV[1])
local items = redis.call('LRANGE', KEYS[1], -n, -1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], 0, -#items - 1)
for i = 1, #items, 1000 do
	redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[4], ARGV[2])
return items
"""

# Give a dead worker's processing list back to the main list, at the tail so it is drained next, unless
# the worker's heartbeat is alive. Atomic, so two recovering workers cannot both take the same list.
_RECOVER = """
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local items = redis.call('LRANGE', KEYS[2], 0, -1)
for i = 1, #items, 1000 do
	redis.call('RPUSH', KEYS[1], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[1])
return #items
"""


# One request's whole Redis work in one round trip: count it against each rate-limit bucket (KEYS[3..],
# limits ARGV[4..], buckets expire after ARGV[3] seconds) and refuse it (-n: the n-th limit) when over one;
# else push the record (ARGV[1]) unless the main list holds ARGV[2] records already (then count it as shed
# and return 0; ARGV[2] < 0: no cap).
_ENQUEUE = """
for i = 3, #KEYS do
	local count = redis.call('INCR', KEYS[i])
	if count == 1 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3]) + 1) end
	if count > tonumber(ARGV[i + 1]) then return 2 - i end
end
local cap = tonumber(ARGV[2])
if cap >= 0 and redis.call('LLEN', KEYS[1]) >= cap then
	redis.call('INCR', KEYS[2])
	return 0
end
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1
"""

# Add dead letters (ARGV: cap, then record/reason pairs) and drop the oldest beyond the cap, with their
# reasons, counting them. Reasons live in a hash by record id so that a replay moves records unchanged.
_BURY = """
local cap = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
	redis.call('LPUSH', KEYS[1], ARGV[i])
	local ok, rec = pcall(cjson.decode, ARGV[i])
	if ok and type(rec) == 'table' and rec.id then redis.call('HSET', KEYS[2], rec.id, ARGV[i + 1]) end
end
local over = redis.call('LLEN', KEYS[1]) - cap
if over > 0 then
	local old = redis.call('LRANGE', KEYS[1], -over, -1)
	for _, item in ipairs(old) do
		local ok, rec = pcall(cjson.decode, item)
		if ok and type(rec) == 'table' and rec.id then redis.call('HDEL', KEYS[2], rec.id) end
	end
	redis.call('LTRIM', KEYS[1], 0, -over - 1)
	redis.call('INCRBY', KEYS[3], over)
end
return over
"""

# Give every dead letter back to the main list (at the tail: drained next) and forget their reasons.
_REPLAY = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #items, 1000 do
	redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('DEL', KEYS[1], KEYS[3])
return #items
"""


def new_id() -> str:
	"""A unique, time-ordered record id: 32 hex characters, 48-bit milliseconds then 80 random bits.

	Sorts by creation time (oldest_age reads it), fits a Frappe name, and is the click id put on links.
	"""
	return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def id_timestamp(record_id: str) -> float:
	"""The creation time (Unix seconds) encoded in an id from new_id()."""
	return int(record_id[:12], 16) / 1000


@dataclass(frozen=True)
class DrainStats:
	"""What one drain_all call did."""

	batches: int
	records: int
	seconds: float
	recovered: int
	remaining: int
	dead: int = 0  # records set aside as dead letters in this call


class RateLimited(Exception):
	"""A request over one of the limits `enqueue` counted it against (the key is the limit's)."""

	def __init__(self, key: str):
		super().__init__(f"rate limit {key} exceeded")
		self.key = key


@dataclass(frozen=True)
class DeadLetter:
	"""A record the sink could not store, with why and when (Unix seconds)."""

	record: dict | str
	error: str
	at: float


class RedisQueue:
	"""One queue ("stream") of JSON records in Redis, with reliable batch draining.

	Keys, under `prefix` (the Frappe layer uses one per site, e.g. "trackflow|site1.local"):
	  {prefix}:{stream}:q                 the main list; producers LPUSH, workers take from the tail
	  {prefix}:{stream}:proc:{worker}     a worker's processing list: records taken, not yet committed
	  {prefix}:{stream}:hb:{worker}       a worker's heartbeat, expires heartbeat_ttl seconds after its
	                                      last batch started
	  {prefix}:{stream}:workers           the workers that may have a processing list

	A record is in exactly one list at any time. The sink is called with a batch, and only after it
	returns is the processing list deleted; a crash or an exception before that leaves the records in
	the processing list, from where recover() (or the exception handler) puts them back. The same
	record can therefore reach the sink twice: the sink must be idempotent on record["id"].

	`client` must be a plain redis.Redis (redis-py 4.5 to 6.x, decode_responses either way), not
	Frappe's RedisWrapper, which rewrites key names in some commands and not in others. Use the Redis
	that RQ uses (redis_queue), not redis_cache: the cache evicts keys under memory pressure.
	heartbeat_ttl must exceed the longest time a sink can take on one batch, else a slow worker's batch
	is recovered and delivered twice (harmless with an idempotent sink, but wasted work).
	"""

	def __init__(
		self,
		client: redis.Redis,
		stream: str,
		prefix: str = "trackflow",
		heartbeat_ttl: float = 300,
		worker_id: str | None = None,
		max_backlog: int | None = None,
		dead_letter_cap: int = DEAD_LETTER_CAP,
	):
		if type(client).lpush is not redis.Redis.lpush or type(client).llen is not redis.Redis.llen:
			raise ValidationError(
				"RedisQueue needs a plain redis.Redis client (e.g. redis.Redis.from_url(frappe.conf.redis_queue))"
			)
		if not stream or not prefix or ":" in stream:
			raise ValidationError("RedisQueue needs a prefix and a stream name without ':'")
		if heartbeat_ttl < 0.01:
			raise ValidationError("heartbeat_ttl must be at least 0.01 seconds")
		self.client = client
		self.stream = stream
		self.heartbeat_ttl = heartbeat_ttl
		self._fixed_worker_id = worker_id
		self._worker_id, self._pid = "", 0
		base = f"{prefix}:{stream}"
		self.main_key = f"{base}:q"
		self.workers_key = f"{base}:workers"
		self._base = base
		self.dead_key = f"{base}:dead"
		self.max_backlog = max_backlog
		self.dead_letter_cap = dead_letter_cap
		self._take = client.register_script(_TAKE)
		self._recover = client.register_script(_RECOVER)
		self._enqueue = client.register_script(_ENQUEUE)
		self._bury = client.register_script(_BURY)
		self._replay = client.register_script(_REPLAY)
		self._unlock = client.register_script(
			"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
		)

	@property
	def worker_id(self) -> str:
		"""This process's worker name; a forked child (an RQ work horse) gets its own, never its parent's,
		because two processes sharing one processing list would delete each other's batches."""
		if self._fixed_worker_id:
			return self._fixed_worker_id
		if self._pid != os.getpid():
			self._pid = os.getpid()
			self._worker_id = f"{socket.gethostname()}-{self._pid}-{secrets.token_hex(4)}"
		return self._worker_id

	def processing_key(self, worker_id: str | None = None) -> str:
		return f"{self._base}:proc:{worker_id or self.worker_id}"

	def heartbeat_key(self, worker_id: str | None = None) -> str:
		return f"{self._base}:hb:{worker_id or self.worker_id}"

	# --- producers ---------------------------------------------------------------------------------

	def enqueue(
		self,
		record: dict,
		limits: Sequence[tuple[str, int]] = (),
		window_seconds: int = 60,
		now: float | None = None,
	) -> str | None:
		"""Push one record; returns its id (given in record["id"] or new), or None when the backlog is at
		`max_backlog` (the record is shed and counted, see `shed`).

		`limits` are (key, requests per window) rate limits to count this request against first, in the
		same round trip (fixed windows, as trackflow.engine.ratelimit.allow counts them): over any of them,
		nothing is pushed and RateLimited says which. Without limits or a cap this is one LPUSH.
		The record must be JSON-serialisable; it is stored compactly as given, with the id added.
		Redis errors (redis.RedisError: down, timeout, out of memory) propagate: the caller's slower
		path (write the record directly) takes over and counts that it did.
		"""
		record_id = record.get("id") or new_id()
		if record.get("id") != record_id:
			record = {**record, "id": record_id}
		if self.max_backlog is None and not limits:
			self.client.lpush(self.main_key, _dumps(record))
			return record_id
		window = int((time.time() if now is None else now) // window_seconds)
		result = int(
			self._enqueue(
				keys=[self.main_key, self._shed_key, *(f"{key}:{window}" for key, _limit in limits)],
				args=[
					_dumps(record),
					-1 if self.max_backlog is None else self.max_backlog,
					window_seconds,
					*(limit for _key, limit in limits),
				],
			)
		)
		if result < 0:
			raise RateLimited(limits[-result - 1][0])
		return record_id if result else None

	def enqueue_many(self, records: Iterable[dict]) -> list[str]:
		"""Push many records with one LPUSH (for imports and tests, not the per-request path)."""
		ids, payloads = [], []
		for record in records:
			record_id = record.get("id") or new_id()
			ids.append(record_id)
			payloads.append(_dumps({**record, "id": record_id}))
		for i in range(0, len(payloads), 10_000):
			self.client.lpush(self.main_key, *payloads[i : i + 10_000])
		return ids

	# --- inspection ---------------------------------------------------------------------------------

	def backlog(self) -> int:
		"""Records waiting in the main list (not counting batches a worker holds right now)."""
		return int(self.client.llen(self.main_key))

	def in_flight(self) -> int:
		"""Records held in processing lists (being committed, or left by a dead worker)."""
		workers = self._workers()
		if not workers:
			return 0
		pipe = self.client.pipeline(transaction=False)
		for worker in workers:
			pipe.llen(self.processing_key(worker))
		return sum(int(n) for n in pipe.execute())

	def orphaned(self) -> int:
		"""Records held by workers whose heartbeat has expired: a worker died mid-batch. Nothing is lost
		(the next drain's `recover` puts them back); a number that stays says no drain is running."""
		workers = self._workers()
		if not workers:
			return 0
		pipe = self.client.pipeline(transaction=False)
		for worker in workers:
			pipe.exists(self.heartbeat_key(worker))
			pipe.llen(self.processing_key(worker))
		replies = pipe.execute()
		return sum(int(held) for alive, held in zip(replies[::2], replies[1::2], strict=True) if not alive)

	def oldest_age(self, now: float | None = None) -> float | None:
		"""Seconds since the oldest waiting record was enqueued (from its id), or None when empty."""
		raw = self.client.lindex(self.main_key, -1)
		if raw is None:
			return None
		try:
			created = id_timestamp(json.loads(raw)["id"])
		except (ValueError, KeyError, TypeError):
			return None
		return max(0.0, (time.time() if now is None else now) - created)

	@property
	def _shed_key(self) -> str:
		return f"{self._base}:shed"

	@property
	def _dead_reasons_key(self) -> str:
		return f"{self._base}:dead:why"

	@property
	def _dead_dropped_key(self) -> str:
		return f"{self._base}:dead:dropped"

	def shed(self) -> int:
		"""Records refused since the stream began because the backlog was at max_backlog."""
		return int(self.client.get(self._shed_key) or 0)

	def dead_letters(self) -> int:
		"""Dead letters waiting for an admin (replay or purge)."""
		return int(self.client.llen(self.dead_key))

	def dead_letters_dropped(self) -> int:
		"""Dead letters dropped because the list was at its cap (the oldest go first)."""
		return int(self.client.get(self._dead_dropped_key) or 0)

	def _workers(self) -> list[str]:
		return sorted(_text(w) for w in self.client.smembers(self.workers_key))

	# --- workers ------------------------------------------------------------------------------------

	def recover(self) -> int:
		"""Put back the processing lists of workers whose heartbeat has expired; returns records moved.

		Call it when a worker starts (drain_all does). This worker's own list is put back too, whatever
		its heartbeat: a new RedisQueue with a reused worker_id is a restarted worker.
		"""
		moved = 0
		for worker in self._workers():
			keys = [self.main_key, self.processing_key(worker), self.heartbeat_key(worker), self.workers_key]
			if worker == self.worker_id:
				self.client.delete(self.heartbeat_key(worker))
			result = int(self._recover(keys=keys, args=[worker]))
			if result > 0:
				moved += result
		return moved

	def take(self, batch_size: int = 1000) -> list[dict]:
		"""Move up to batch_size of the oldest records to this worker's processing list and return them,
		oldest first. Records that are not valid JSON objects with an id are dropped into
		{prefix}:{stream}:dead (kept for inspection) instead of blocking the queue forever.
		"""
		if batch_size < 1:
			raise ValidationError("batch_size must be at least 1")
		raw_items = self._take(
			keys=[self.main_key, self.processing_key(), self.heartbeat_key(), self.workers_key],
			args=[batch_size, self.worker_id, max(10, int(self.heartbeat_ttl * 1000))],
		)
		batch, dead = [], []
		for raw in reversed(raw_items):
			try:
				record = json.loads(raw)
				if isinstance(record, dict) and record.get("id"):
					batch.append(record)
					continue
			except ValueError:
				pass
			dead.append((raw, "not a JSON record with an id"))
		if dead:
			self._bury_raw(dead)
		return batch

	# --- dead letters ---------------------------------------------------------------------------------

	def bury(self, record: dict, error: BaseException | str) -> None:
		"""Set one record aside as a dead letter with the reason (redacted: no emails or long numbers)."""
		reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
		self._bury_raw([(_dumps(record), scrub_personal_data(reason))])

	def _bury_raw(self, items: list[tuple[str, str]]) -> None:
		now = time.time()
		args: list = [self.dead_letter_cap]
		for raw, reason in items:
			args += [raw, json.dumps({"error": reason, "at": now})]
		self._bury(keys=[self.dead_key, self._dead_reasons_key, self._dead_dropped_key], args=args)

	def show_dead_letters(self, limit: int = 20) -> list[DeadLetter]:
		"""The newest `limit` dead letters, newest first."""
		raws = self.client.lrange(self.dead_key, 0, max(0, limit) - 1) if limit > 0 else []
		letters = []
		for raw in raws:
			raw = _text(raw)
			try:
				record = json.loads(raw)
			except ValueError:
				record = None
			why = None
			if isinstance(record, dict) and record.get("id"):
				why = self.client.hget(self._dead_reasons_key, str(record["id"]))
			info = json.loads(why) if why else {"error": "not a JSON record with an id", "at": 0}
			letters.append(DeadLetter(record if isinstance(record, dict) else raw, info["error"], info["at"]))
		return letters

	def replay_dead_letters(self) -> int:
		"""Put every dead letter back on the main list (drained next), e.g. after a fix; returns how many."""
		return int(self._replay(keys=[self.dead_key, self.main_key, self._dead_reasons_key]))

	def remove_containing(self, needles: Iterable[str]) -> int:
		"""Delete every record, waiting, in flight or dead, whose stored text contains one of `needles` (a
		visitor id, an email): erasure must not leave copies that a later drain would store again. Returns
		the records removed. A record a live worker is storing at this very moment may still be stored:
		erase the database rows after calling this."""
		needles = [n for n in needles if n and len(n) >= 8]  # a short needle would match unrelated records
		if not needles:
			return 0
		removed = 0
		for key in [self.main_key, self.dead_key] + [self.processing_key(w) for w in self._workers()]:
			matches = []
			for start in range(0, int(self.client.llen(key)), 1000):
				matches += [
					raw
					for raw in self.client.lrange(key, start, start + 999)
					if any(needle in _text(raw) for needle in needles)
				]
			for raw in dict.fromkeys(matches):
				removed += int(self.client.lrem(key, 0, raw))
				if key == self.dead_key:
					try:
						self.client.hdel(self._dead_reasons_key, str(json.loads(raw)["id"]))
					except (ValueError, KeyError, TypeError):
						pass
		return removed

	def purge_dead_letters(self) -> int:
		"""Drop every dead letter; returns how many were dropped."""
		pipe = self.client.pipeline(transaction=True)
		pipe.llen(self.dead_key)
		pipe.delete(self.dead_key, self._dead_reasons_key)
		return int(pipe.execute()[0])

	def commit(self) -> None:
		"""The batch from take() is stored: forget it (delete this worker's processing list)."""
		self.client.delete(self.processing_key())

	def release(self) -> int:
		"""Give the batch from take() back to the main list (after a failed sink); returns records moved."""
		return max(0, int(self._recover(keys=self._recover_keys(), args=[self.worker_id])))

	def _recover_keys(self) -> list[str]:
		# The heartbeat key is replaced by one that never exists, so the script always moves the list.
		return [self.main_key, self.processing_key(), f"{self.heartbeat_key()}:released", self.workers_key]

	def drain_once(self, sink: Sink, batch_size: int = 1000, is_transient: IsTransient | None = None) -> int:
		"""Take one batch, hand it to sink, commit; returns the number of records (0 when empty).

		If the sink raises on the batch, the batch is split in halves and each half handed to the sink
		again, down to single records; a record that fails alone becomes a dead letter with its reason, and
		every other record is stored. An error that `is_transient` (default: Redis and OS errors) says is
		the store's, not a record's, gives the whole batch back to the main list and propagates, as does
		any BaseException that is not an Exception (a worker being stopped). The sink must therefore be
		atomic per call (commit or roll back what it wrote) and idempotent on record["id"].
		"""
		return self._drain_once(sink, batch_size, is_transient or default_is_transient)[0]

	def _drain_once(self, sink: Sink, batch_size: int, is_transient: IsTransient) -> tuple[int, int]:
		batch = self.take(batch_size)
		if not batch:
			self.commit()
			return 0, 0
		try:
			dead = self._deliver(sink, batch, is_transient)
		except BaseException:
			self.release()
			raise
		self.commit()
		return len(batch), dead

	def _deliver(self, sink: Sink, batch: list[dict], is_transient: IsTransient) -> int:
		"""Store `batch`, isolating failing records by bisection; returns the dead letters made."""
		try:
			sink(batch)
			return 0
		except Exception as error:
			if is_transient(error):
				raise
			if len(batch) == 1:
				self.bury(batch[0], error)
				return 1
		middle = len(batch) // 2
		return self._deliver(sink, batch[:middle], is_transient) + self._deliver(
			sink, batch[middle:], is_transient
		)

	def drain_all(
		self,
		sink: Sink,
		max_seconds: float = 50.0,
		batch_size: int = 1000,
		is_transient: IsTransient | None = None,
	) -> DrainStats:
		"""Recover abandoned batches, then drain batches until the queue is empty or max_seconds passed.

		Returns DrainStats; `remaining` > 0 tells the caller to schedule another run.
		"""
		started = time.monotonic()
		recovered = self.recover()
		batches = records = dead = 0
		try:
			while time.monotonic() - started < max_seconds:
				taken, buried = self._drain_once(sink, batch_size, is_transient or default_is_transient)
				if not taken:
					break
				batches += 1
				records += taken
				dead += buried
		finally:
			self.close()
		return DrainStats(batches, records, time.monotonic() - started, recovered, self.backlog(), dead)

	def close(self) -> None:
		"""Leave cleanly: drop the heartbeat and the worker entry (the processing list is already empty)."""
		if self.client.llen(self.processing_key()):
			return  # something still held: leave it for recover()
		pipe = self.client.pipeline(transaction=True)
		pipe.delete(self.heartbeat_key())
		pipe.srem(self.workers_key, self.worker_id)
		pipe.execute()

	# --- one drain at a time ---------------------------------------------------------------------------

	def lock(self, ttl_seconds: float) -> str | None:
		"""Take the stream's drain lock for at most `ttl_seconds` (it expires with a worker that died
		holding it); returns its token, or None while another drain holds it."""
		token = secrets.token_hex(8)
		if self.client.set(self._lock_key, token, nx=True, px=max(1, int(ttl_seconds * 1000))):
			return token
		return None

	def unlock(self, token: str) -> None:
		"""Give the lock back, if it is still this holder's (an expired lock may be someone else's now)."""
		self._unlock(keys=[self._lock_key], args=[token])

	@property
	def _lock_key(self) -> str:
		return f"{self._base}:lock"

	def clear(self) -> None:
		"""Delete every key of this stream (tests and uninstall)."""
		keys = [self.main_key, self.workers_key, self.dead_key, self._dead_reasons_key]
		keys += [self._dead_dropped_key, self._shed_key, self._lock_key]
		for worker in self._workers():
			keys += [self.processing_key(worker), self.heartbeat_key(worker)]
		self.client.delete(*keys)


def default_is_transient(error: BaseException) -> bool:
	"""Errors of the store rather than of a record: Redis and OS (network, disk) errors."""
	return isinstance(error, redis.RedisError | OSError)


def _dumps(record: dict) -> str:
	return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)


def _text(value: bytes | str) -> str:
	return value.decode() if isinstance(value, bytes) else value
