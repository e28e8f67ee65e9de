"""The drain jobs: move each stream's queued records into the database (clicks -> `trackflow.clicks`,
collect -> `trackflow.sessions`, events -> `trackflow.ingest`), one drain per stream at a time, in committed batches."""

import frappe
import pymysql
import redis
from rq.timeouts import JobTimeoutException

from trackflow.clicks import store_clicks
from trackflow.ingest import store_server_events
from trackflow.queues import STREAMS, Stream, get_queue
from trackflow.sessions import store_collected

SINKS = {"clicks": store_clicks, "collect": store_collected, "events": store_server_events}


DRAIN_SECONDS = 240  # well inside the long queue's timeout; the next run (or a continuation) goes on


DRAIN_BATCH = 1000


LOCK_MARGIN_SECONDS = 120  # a batch started just before the budget ends still finishes under the lock


def drain_queues():
	"""Every minute: one drain job per stream, skipped while one is queued or running (deduplicated)."""
	for stream in STREAMS:
		enqueue_drain(stream, job_id=f"trackflow-drain-{stream}")


def enqueue_drain(stream: Stream, job_id: str):
	frappe.enqueue(
		"trackflow.drain.drain",
		queue="long",
		job_id=job_id,
		deduplicate=True,
		stream=stream,
	)


def drain(stream: Stream, max_seconds: float = DRAIN_SECONDS, progress=None) -> dict:
	"""Move the stream's records into the database in committed batches; returns what was done.

	Each batch is committed before the queue forgets it (RedisQueue's contract), so a worker killed at
	any point loses nothing and, the sinks being idempotent, duplicates nothing.
	"""
	sink = SINKS[stream]

	def commit_batch(batch: list[dict]):
		try:
			sink(batch)
			frappe.db.commit()  # the batch is stored: only now may the queue forget it
		except BaseException:
			frappe.db.rollback()  # nothing half-written: the queue retries the halves, then single records
			raise
		if progress:
			progress(len(batch))

	queue = get_queue(stream)
	# One drain per stream at a time (the continuation job has its own job id, so RQ's deduplication alone
	# would let two overlap); the lock outlives the drain's own time budget and expires with a dead worker.
	token = queue.lock(max_seconds + LOCK_MARGIN_SECONDS)
	if not token:
		return {"stream": stream, "records": 0, "skipped": "another drain of this stream is running"}
	try:
		stats = queue.drain_all(
			commit_batch, max_seconds=max_seconds, batch_size=DRAIN_BATCH, is_transient=is_transient
		)
	finally:
		queue.unlock(token)
	if stats.remaining and not progress:
		# Still a backlog after the time budget: continue in another job rather than wait for the minute.
		enqueue_drain(stream, job_id=f"trackflow-drain-{stream}-more")
	return {
		"stream": stream,
		"records": stats.records,
		"batches": stats.batches,
		"seconds": round(stats.seconds, 3),
		"recovered": stats.recovered,
		"remaining": stats.remaining,
		"dead_letters": stats.dead,
	}


# MariaDB errors of the server, not of a record: the batch is retried whole on the next run.
TRANSIENT_DB_ERRORS = frozenset(
	(
		1040,  # too many connections
		1205,  # lock wait timeout
		1213,  # deadlock
		1317,  # query interrupted
		2003,  # cannot connect
		2006,  # server has gone away
		2013,  # lost connection during query
		3024,  # query execution time exceeded
	)
)


def is_transient(error: BaseException) -> bool:
	"""True for failures of the database, Redis or the job itself (a timeout), which say nothing about
	the records: the queue then gives the batch back instead of setting records aside."""
	if isinstance(error, redis.RedisError | OSError | JobTimeoutException | pymysql.err.InterfaceError):
		return True
	code = error.args[0] if isinstance(error, pymysql.err.MySQLError) and error.args else None
	return code in TRANSIENT_DB_ERRORS
