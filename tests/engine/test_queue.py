"""The click queue against the real Redis on 127.0.0.1:6379: crashes, replays, producers, backlog, RQ."""

import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from queue_helpers import drain_job, produce, rows, sqlite_sink

from trackflow.engine.errors import ValidationError
from trackflow.engine.queue import RedisQueue, id_timestamp, new_id

HERE = Path(__file__).resolve().parent


@pytest.fixture
def client():
	"""The real local Redis; a test fails (never skips) when it is down: CI starts it."""
	client = redis.Redis(host="127.0.0.1", port=6379)
	client.ping()
	yield client
	client.close()


@pytest.fixture
def prefix(client):
	prefix = f"tftest:{uuid.uuid4().hex}"
	yield prefix
	keys = list(client.scan_iter(f"{prefix}:*", count=1000))
	if keys:
		client.delete(*keys)


def leftover_keys(client, prefix):
	return sorted(k.decode() for k in client.scan_iter(f"{prefix}:*"))


def test_enqueue_is_one_lpush_and_drain_returns_oldest_first(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	ids = [queue.enqueue({"n": n}) for n in range(5)]
	assert queue.backlog() == 5
	assert client.llen(f"{prefix}:clicks:q") == 5
	got = []
	assert queue.drain_once(got.extend, batch_size=3) == 3
	assert [r["n"] for r in got] == [0, 1, 2]
	assert [r["id"] for r in got] == ids[:3]
	assert queue.drain_once(got.extend, batch_size=3) == 2
	assert queue.drain_once(got.extend) == 0
	assert [r["n"] for r in got] == [0, 1, 2, 3, 4]
	queue.close()
	assert leftover_keys(client, prefix) == []


def test_enqueue_keeps_a_given_id_and_records_are_compact_json(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	assert queue.enqueue({"id": "abc", "link": "x"}) == "abc"
	assert client.lindex(f"{prefix}:clicks:q", 0) == b'{"id":"abc","link":"x"}'
	empty_id = queue.enqueue({"id": "", "link": "y"})
	assert len(empty_id) == 32
	assert client.lindex(f"{prefix}:clicks:q", 0) == b'{"id":"%s","link":"y"}' % empty_id.encode()


def test_ids_are_unique_time_ordered_and_carry_their_time():
	ids = [new_id() for _ in range(2000)]
	assert len(set(ids)) == 2000 and all(len(i) == 32 for i in ids)
	assert sorted(ids, key=lambda i: i[:12]) == ids
	assert abs(id_timestamp(ids[-1]) - time.time()) < 5


def test_streams_and_prefixes_do_not_mix(client, prefix):
	clicks = RedisQueue(client, "clicks", prefix=prefix)
	events = RedisQueue(client, "events", prefix=prefix)
	other_site = RedisQueue(client, "clicks", prefix=prefix + "-other")
	clicks.enqueue({"n": 1})
	events.enqueue({"n": 2})
	events.enqueue({"n": 3})
	assert (clicks.backlog(), events.backlog(), other_site.backlog()) == (1, 2, 0)


def test_backlog_and_oldest_age(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	assert queue.oldest_age() is None
	queue.enqueue({"id": f"{int((time.time() - 30) * 1000):012x}{'0' * 20}"})
	queue.enqueue({"n": 2})
	assert 29 <= queue.oldest_age() <= 40
	assert queue.backlog() == 2


def test_a_plain_redis_client_is_required(client):
	class Wrapper(redis.Redis):
		def lpush(self, name, *values):  # what Frappe's RedisWrapper does: rewrites the key
			return super().lpush(f"site|{name}", *values)

	with pytest.raises(ValidationError, match=r"plain redis\.Redis"):
		RedisQueue(Wrapper(), "clicks")


def test_works_with_decoded_responses(prefix):
	client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
	queue = RedisQueue(client, "clicks", prefix=prefix)
	queue.enqueue({"n": "é"})
	got = []
	stats = queue.drain_all(got.extend)
	assert (stats.records, got[0]["n"]) == (1, "é")


def test_undecodable_records_go_to_the_dead_list_not_into_a_loop(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	client.lpush(f"{prefix}:clicks:q", b"not json", b'{"no_id":1}')
	queue.enqueue({"n": 1})
	got = []
	queue.drain_all(got.extend)
	assert [r["n"] for r in got] == [1]
	assert sorted(client.lrange(f"{prefix}:clicks:dead", 0, -1)) == [b"not json", b'{"no_id":1}']
	assert {letter.error for letter in queue.show_dead_letters()} == {"not a JSON record with an id"}


class Poisoned(ValueError):
	pass


def poison_sink(db: str, poisoned: set[int]):
	"""A sink that stores whole batches or nothing (like a database transaction) and fails on poisoned n."""
	store = sqlite_sink(db)

	def sink(batch):
		bad = [r["n"] for r in batch if r["n"] in poisoned]
		if bad:
			raise Poisoned(f"Data too long for column 'email' (record {bad[0]}, ada@example.com, 4155551234)")
		store(batch)

	return sink


def test_a_poisoned_record_among_a_thousand_becomes_one_dead_letter_and_blocks_nothing(
	client, prefix, tmp_path
):
	db = str(tmp_path / "db")
	queue = RedisQueue(client, "collect", prefix=prefix)
	queue.enqueue_many([{"n": n} for n in range(1000)])
	stats = queue.drain_all(poison_sink(db, {417}), batch_size=1000)
	assert (stats.records, stats.dead, stats.remaining) == (1000, 1, 0)
	assert [n for _, n in rows(db)] == [n for n in range(1000) if n != 417]
	assert queue.dead_letters() == 1 and queue.in_flight() == 0
	(letter,) = queue.show_dead_letters()
	assert letter.record["n"] == 417
	assert letter.error.startswith("Poisoned: Data too long for column 'email'")
	assert "ada@example.com" not in letter.error and "4155551234" not in letter.error  # redacted
	assert "[email]" in letter.error and "[number]" in letter.error
	assert time.time() - letter.at < 600

	# the next drain takes new records at once
	queue.enqueue_many([{"n": n} for n in range(1000, 1010)])
	assert queue.drain_all(poison_sink(db, {417}), batch_size=1000).records == 10
	assert len(rows(db)) == 1009


def test_dead_letters_replay_after_a_fix_and_purge(client, prefix, tmp_path):
	db = str(tmp_path / "db")
	queue = RedisQueue(client, "collect", prefix=prefix)
	queue.enqueue_many([{"n": n} for n in range(50)])
	assert queue.drain_all(poison_sink(db, {3, 4, 40}), batch_size=16).dead == 3
	assert sorted(letter.record["n"] for letter in queue.show_dead_letters(10)) == [3, 4, 40]
	assert queue.replay_dead_letters() == 3
	assert queue.dead_letters() == 0 and queue.backlog() == 3
	assert queue.drain_all(poison_sink(db, set())).dead == 0  # fixed: they are stored now
	assert [n for _, n in rows(db)] == list(range(50))

	queue.enqueue_many([{"n": 100}, {"n": 101}])
	queue.drain_all(poison_sink(db, {100, 101}))
	assert queue.purge_dead_letters() == 2
	assert queue.dead_letters() == 0 and queue.show_dead_letters() == []
	queue.clear()
	assert leftover_keys(client, prefix) == []


def test_dead_letters_are_capped_oldest_dropped_and_counted(client, prefix, tmp_path):
	queue = RedisQueue(client, "collect", prefix=prefix, dead_letter_cap=5)
	queue.enqueue_many([{"n": n} for n in range(8)])
	assert queue.drain_all(poison_sink(str(tmp_path / "db"), set(range(8))), batch_size=8).dead == 8
	assert queue.dead_letters() == 5 and queue.dead_letters_dropped() == 3
	assert [letter.record["n"] for letter in queue.show_dead_letters(10)] == [7, 6, 5, 4, 3]
	# the dropped letters' reasons went with them
	assert client.hlen(f"{prefix}:collect:dead:why") == 5


def test_the_backlog_cap_sheds_new_records_and_counts_them(client, prefix):
	queue = RedisQueue(client, "collect", prefix=prefix, max_backlog=3)
	ids = [queue.enqueue({"n": n}) for n in range(5)]
	assert ids[3:] == [None, None] and all(ids[:3])
	assert queue.backlog() == 3 and queue.shed() == 2
	got = []
	queue.drain_all(got.extend)
	assert [r["n"] for r in got] == [0, 1, 2]
	assert queue.enqueue({"n": 9})  # room again


def test_the_default_transient_errors_give_the_batch_back(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	queue.enqueue_many([{"n": n} for n in range(4)])

	def down(batch):
		raise redis.ConnectionError("Connection refused")

	with pytest.raises(redis.ConnectionError):
		queue.drain_once(down)
	assert queue.backlog() == 4 and queue.dead_letters() == 0 and queue.in_flight() == 0


def test_a_second_take_before_commit_is_refused(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	queue.enqueue_many([{"n": n} for n in range(4)])
	assert len(queue.take(2)) == 2
	with pytest.raises(redis.ResponseError, match="TRACKFLOW_UNCOMMITTED"):
		queue.take(2)
	assert queue.release() == 2
	assert queue.backlog() == 4


def test_a_transient_sink_exception_puts_the_batch_back_and_propagates(client, prefix, tmp_path):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	queue.enqueue_many([{"n": n} for n in range(10)])
	with pytest.raises(RuntimeError):
		queue.drain_once(
			sqlite_sink(str(tmp_path / "db"), fail_after_insert=True),
			batch_size=4,
			is_transient=lambda error: isinstance(error, RuntimeError),
		)
	assert queue.backlog() == 10  # all back, the failed batch at the tail: drained next
	assert queue.in_flight() == 0
	got = []
	queue.drain_once(got.extend, batch_size=4)
	assert [r["n"] for r in got] == [0, 1, 2, 3]


def test_sink_exceptions_many_trials_nothing_lost_nothing_duplicated(client, prefix, tmp_path):
	rng = random.Random(7)
	for trial in range(50):
		db = str(tmp_path / f"exc{trial}.db")
		queue = RedisQueue(client, "clicks", prefix=f"{prefix}:{trial}")
		queue.enqueue_many([{"n": n} for n in range(60)])
		good, flaky = sqlite_sink(db), sqlite_sink(db, fail_after_insert=True)
		failures = 0

		def sink(batch, good=good, flaky=flaky):
			nonlocal failures
			if rng.random() < 0.4:
				failures += 1
				if rng.random() < 0.5:
					raise RuntimeError("before insert")
				flaky(batch)  # inserted and committed, then failed: the replay must insert nothing twice
			good(batch)

		while queue.backlog():
			try:
				queue.drain_all(sink, batch_size=rng.randint(1, 25), is_transient=lambda error: True)
			except RuntimeError:
				pass
		assert [n for _, n in rows(db)] == list(range(60)), trial
		assert queue.in_flight() == 0
		assert failures > 0 or trial > 0
	assert leftover_keys(client, prefix) == []


def _doomed_worker(prefix, db, batch_size, seed):
	"""Drains with commits of its own, slowly, until the parent SIGKILLs it somewhere."""
	rng = random.Random(seed)
	queue = RedisQueue(redis.Redis(host="127.0.0.1", port=6379), "clicks", prefix=prefix, heartbeat_ttl=0.1)
	insert = sqlite_sink(db)

	def sink(batch):
		time.sleep(rng.random() * 0.01)
		insert(batch)
		db_conn = sqlite3.connect(db, timeout=30)
		db_conn.execute("CREATE TABLE IF NOT EXISTS deliveries (id TEXT)")
		db_conn.executemany("INSERT INTO deliveries VALUES (?)", [(r["id"],) for r in batch])
		db_conn.commit()
		db_conn.close()
		time.sleep(rng.random() * 0.01)

	queue.drain_all(sink, batch_size=batch_size)


def test_sigkill_between_take_and_commit_many_trials(client, prefix, tmp_path):
	"""50 workers killed at random points (before, inside or after the sink, before the commit):
	after recovery every record is stored once, and only the batch in flight was delivered twice."""
	context = multiprocessing.get_context("fork")
	rng = random.Random(11)
	killed_holding = 0
	for trial in range(50):
		trial_prefix = f"{prefix}:{trial}"
		db = str(tmp_path / f"kill{trial}.db")
		batch_size = rng.randint(5, 40)
		total = 600
		RedisQueue(client, "clicks", prefix=trial_prefix).enqueue_many([{"n": n} for n in range(total)])
		worker = context.Process(target=_doomed_worker, args=(trial_prefix, db, batch_size, trial))
		worker.start()
		time.sleep(rng.random() * 0.06)
		os.kill(worker.pid, signal.SIGKILL)
		worker.join()
		assert worker.exitcode == -signal.SIGKILL, "the worker finished before it was killed"

		recovering = RedisQueue(client, "clicks", prefix=trial_prefix)
		held = recovering.in_flight()
		killed_holding += held > 0
		time.sleep(0.15)  # the dead worker's heartbeat expires
		stats = recovering.drain_all(sqlite_sink(db), batch_size=50)
		assert stats.recovered == held
		assert [n for _, n in rows(db)] == list(range(total)), trial
		conn = sqlite3.connect(db)
		conn.execute("CREATE TABLE IF NOT EXISTS deliveries (id TEXT)")
		delivered_by_worker = conn.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM deliveries").fetchone()
		conn.close()
		assert delivered_by_worker[0] == delivered_by_worker[1]  # the dead worker never saw a record twice
		assert recovering.backlog() == 0 and recovering.in_flight() == 0
		assert leftover_keys(client, trial_prefix) == []
	print("kills that landed between take and commit:", killed_holding)
	assert killed_holding >= 10  # the kills really landed between take and commit


def test_recover_leaves_a_live_worker_alone_and_takes_a_dead_ones_list(client, prefix, tmp_path):
	"""A real second interpreter takes a batch and hangs; while its heartbeat lives, its batch is left
	alone; after SIGKILL and heartbeat expiry, it comes back."""
	queue = RedisQueue(client, "clicks", prefix=prefix)
	queue.enqueue_many([{"n": n} for n in range(100)])
	ready = tmp_path / "ready"
	db = str(tmp_path / "db")
	proc = subprocess.Popen(
		[sys.executable, str(HERE / "queue_helpers.py"), prefix, db, str(ready)],
		env={**os.environ, "BATCH": "40"},
	)
	try:
		deadline = time.monotonic() + 20
		while not ready.exists():
			assert time.monotonic() < deadline and proc.poll() is None
			time.sleep(0.02)
		assert queue.in_flight() == 40 and queue.backlog() == 60
		assert queue.recover() == 0  # heartbeat alive (1 s)
		assert queue.in_flight() == 40 and queue.orphaned() == 0
	finally:
		proc.send_signal(signal.SIGKILL)
		proc.wait()
	deadline = time.monotonic() + 20
	while queue.orphaned() != 40:  # the dead worker's heartbeat expires after its 1 s
		assert time.monotonic() < deadline
		time.sleep(0.05)
	assert queue.recover() == 40 and queue.orphaned() == 0
	queue.drain_all(sqlite_sink(db))
	assert [n for _, n in rows(db)] == list(range(100))
	assert leftover_keys(client, prefix) == []


def test_concurrent_producers(client, prefix):
	context = multiprocessing.get_context("fork")
	procs = [context.Process(target=produce, args=(prefix, i * 2000, 2000)) for i in range(4)]
	for p in procs:
		p.start()
	for p in procs:
		p.join()
		assert p.exitcode == 0
	queue = RedisQueue(client, "clicks", prefix=prefix)
	assert queue.backlog() == 8000
	got = []
	queue.drain_all(got.extend, batch_size=1000)
	assert sorted(r["n"] for r in got) == list(range(8000))
	assert len({r["id"] for r in got}) == 8000


def test_backlog_of_100k(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	queue.enqueue_many([{"n": n, "link": "Ab3xK9p", "ip": "203.0.113.0"} for n in range(100_000)])
	assert queue.backlog() == 100_000
	assert queue.oldest_age() >= 0
	seen = bytearray(100_000)
	count = 0

	def sink(batch):
		nonlocal count
		for record in batch:
			seen[record["n"]] += 1
		count += len(batch)

	stats = queue.drain_all(sink, max_seconds=30, batch_size=5000)
	assert (stats.records, stats.batches, stats.remaining, count) == (100_000, 20, 0, 100_000)
	assert set(seen) == {1}
	assert leftover_keys(client, prefix) == []


def test_drain_all_stops_at_max_seconds_and_reports_what_remains(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	queue.enqueue_many([{"n": n} for n in range(50)])
	stats = queue.drain_all(lambda batch: time.sleep(0.05), max_seconds=0.12, batch_size=10)
	assert 2 <= stats.batches <= 4
	assert stats.remaining == 50 - stats.records


def test_drain_as_a_real_rq_job_in_burst_mode(client, prefix, tmp_path):
	from rq import Queue, Worker

	clicks = RedisQueue(client, "clicks", prefix=prefix)
	clicks.enqueue_many([{"n": n} for n in range(2500)])
	rq_queue = Queue(f"{prefix}:rq", connection=client)
	db = str(tmp_path / "rq.db")
	try:
		job = rq_queue.enqueue(drain_job, prefix, db, 400)
		worker = Worker([rq_queue], connection=client, name=f"{prefix.replace(':', '-')}-worker")
		assert worker.work(burst=True)
		job.refresh()
		assert job.get_status() == "finished", job.latest_result() and job.latest_result().exc_string
		assert job.return_value() == {"records": 2500, "batches": 7, "remaining": 0}
	finally:
		rq_queue.delete(delete_jobs=True)
		client.delete(f"rq:worker:{worker.name}", f"rq:results:{job.id}", f"rq:job:{job.id}")
		for key in client.scan_iter(f"rq:*{prefix}*"):
			client.delete(key)
	assert [n for _, n in rows(db)] == list(range(2500))
	assert clicks.backlog() == 0


def test_a_forked_child_is_a_different_worker(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	parent_id = queue.worker_id
	assert queue.worker_id == parent_id  # stable within a process
	reader, writer = os.pipe()
	pid = os.fork()
	if pid == 0:  # the child: what an RQ work horse inherits
		os.write(writer, queue.worker_id.encode())
		os._exit(0)
	os.waitpid(pid, 0)
	child_id = os.read(reader, 200).decode()
	assert child_id and child_id != parent_id
	assert RedisQueue(client, "clicks", prefix=prefix, worker_id="fixed").worker_id == "fixed"


def test_erasure_removes_a_visitors_records_from_every_list(client, prefix, tmp_path):
	visitor, other = "a" * 32, "b" * 32
	queue = RedisQueue(client, "collect", prefix=prefix)
	queue.enqueue_many([{"n": n, "visitor": visitor if n % 3 == 0 else other} for n in range(30)])
	# one batch in flight (taken, not committed) and two dead letters
	held = RedisQueue(client, "collect", prefix=prefix, worker_id="held")
	assert len(held.take(5)) == 5
	queue.bury({"id": "dead1", "visitor": visitor, "email": "ada@example.com"}, "bad")
	queue.bury({"id": "dead2", "visitor": other}, "bad")
	removed = queue.remove_containing([visitor, "ada@example.com", "short"])
	assert removed == 10 + 1
	left = client.lrange(queue.main_key, 0, -1) + client.lrange(held.processing_key(), 0, -1)
	left += client.lrange(queue.dead_key, 0, -1)
	assert left and not any(visitor.encode() in raw for raw in left)
	assert [letter.record["id"] for letter in queue.show_dead_letters()] == ["dead2"]
	assert client.hkeys(f"{prefix}:collect:dead:why") == [b"dead2"]
	assert queue.remove_containing(["abc"]) == 0  # too short to be an id or an email: never matched


def test_enqueue_counts_rate_limits_in_the_same_round_trip(client, prefix):
	from trackflow.engine.queue import RateLimited

	queue = RedisQueue(client, "collect", prefix=prefix, max_backlog=100)
	limits = [(f"{prefix}:client:1.2.3.4", 3), (f"{prefix}:site:pk", 5)]
	now = 1_767_225_600.0
	assert all(queue.enqueue({"n": n}, limits, now=now) for n in range(3))
	with pytest.raises(RateLimited) as refused:
		queue.enqueue({"n": 3}, limits, now=now)
	assert refused.value.key == f"{prefix}:client:1.2.3.4"
	other = [(f"{prefix}:client:5.6.7.8", 3), (f"{prefix}:site:pk", 5)]
	assert queue.enqueue({"n": 4}, other, now=now) and queue.enqueue({"n": 5}, other, now=now)
	with pytest.raises(RateLimited) as refused:  # the site's budget: 5 pushed or refused so far, 6th over
		queue.enqueue({"n": 6}, other, now=now)
	assert refused.value.key == f"{prefix}:site:pk"
	assert queue.backlog() == 5  # nothing pushed for a refused request
	assert queue.enqueue({"n": 7}, limits, now=now + 60)  # a new window
	assert 0 < client.ttl(f"{prefix}:client:1.2.3.4:{int(now // 60)}") <= 61


def test_one_drain_per_stream_holds_the_lock_until_it_gives_it_back_or_dies(client, prefix):
	queue = RedisQueue(client, "clicks", prefix=prefix)
	other = RedisQueue(client, "clicks", prefix=prefix, worker_id="other")
	token = queue.lock(ttl_seconds=30)
	assert token and other.lock(ttl_seconds=30) is None
	other.unlock("not-the-token")  # only the holder can give it back
	assert other.lock(ttl_seconds=30) is None
	queue.unlock(token)
	token = other.lock(ttl_seconds=0.05)
	assert token
	time.sleep(0.2)  # the holder died: its lock expires
	assert queue.lock(ttl_seconds=30)


def test_a_click_limit_is_exact_under_concurrent_claims(client, prefix):
	"""50 claims of a 3-click limit from 8 connections at once: exactly 3 get through, and the counter starts from the
	stored count and is raised to it by reconcile, never lowered."""
	from trackflow.engine.ratelimit import claim, reconcile

	key = f"{prefix}:limit:link-1"
	# threads, each with its own connection (a forked pool could inherit a lock held by another thread)
	with ThreadPoolExecutor(8) as pool:
		results = list(pool.map(lambda _: _claim_once(key, 3, 0), range(50)))
	assert sum(results) == 3 and client.get(key) == b"3"
	assert claim(client, f"{prefix}:limit:link-2", 5, stored=5) is False  # the database says: full
	reconcile(client, key, 7)
	assert client.get(key) == b"7"
	reconcile(client, key, 2)  # never lowered
	assert client.get(key) == b"7"
	assert claim(None, key, 3, 0) is None  # no Redis: the caller decides from the stored count
	client.delete(key, f"{prefix}:limit:link-2")


def _claim_once(key: str, limit: int, stored: int) -> int:
	from trackflow.engine.ratelimit import claim

	return int(claim(redis.Redis(host="127.0.0.1", port=6379), key, limit, stored))
