"""Helpers the queue tests run in other processes: a SQLite sink, a worker to kill, an RQ job, producers."""

import os
import sqlite3
import sys
import time

import redis

from trackflow.engine.queue import RedisQueue


def sqlite_sink(path: str, fail_after_insert: bool = False):
	"""An idempotent sink into SQLite (UNIQUE id, INSERT OR IGNORE): the stand-in for bulk_insert."""

	def sink(batch: list[dict]) -> None:
		db = sqlite3.connect(path, timeout=30)
		try:
			db.execute("PRAGMA synchronous=OFF")  # a killed process is the crash tested, not the OS
			db.execute("CREATE TABLE IF NOT EXISTS clicks (id TEXT PRIMARY KEY, n INTEGER)")
			db.executemany(
				"INSERT OR IGNORE INTO clicks VALUES (?, ?)", [(r["id"], r.get("n")) for r in batch]
			)
			db.commit()
			if fail_after_insert:
				raise RuntimeError("sink failed after its commit")
		finally:
			db.close()

	return sink


def rows(path: str) -> list[tuple[str, int]]:
	db = sqlite3.connect(path)
	try:
		db.execute("CREATE TABLE IF NOT EXISTS clicks (id TEXT PRIMARY KEY, n INTEGER)")
		return db.execute("SELECT id, n FROM clicks ORDER BY n").fetchall()
	finally:
		db.close()


def drain_job(prefix: str, db_path: str, batch_size: int = 500) -> dict:
	"""What the Frappe layer's scheduled job does, run here by a real RQ worker."""
	queue = RedisQueue(redis.Redis(host="127.0.0.1", port=6379), "clicks", prefix=prefix)
	stats = queue.drain_all(sqlite_sink(db_path), max_seconds=30, batch_size=batch_size)
	return {"records": stats.records, "batches": stats.batches, "remaining": stats.remaining}


def produce(prefix: str, start: int, count: int) -> None:
	queue = RedisQueue(redis.Redis(host="127.0.0.1", port=6379), "clicks", prefix=prefix)
	for n in range(start, start + count):
		queue.enqueue({"n": n})


def slow_worker(prefix: str, db_path: str, ready_path: str) -> None:
	"""Takes a batch, inserts part of it, signals, then hangs until SIGKILLed mid-batch."""
	queue = RedisQueue(redis.Redis(host="127.0.0.1", port=6379), "clicks", prefix=prefix, heartbeat_ttl=1)

	def sink(batch):
		sqlite_sink(db_path)(batch[: len(batch) // 2])  # half committed, like a crash inside the insert
		with open(ready_path, "w") as f:
			f.write(queue.worker_id)
		time.sleep(60)

	queue.drain_once(sink, batch_size=int(os.environ.get("BATCH", "40")))


if __name__ == "__main__":
	slow_worker(*sys.argv[1:4])
