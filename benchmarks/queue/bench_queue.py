"""Click queue throughput against a real Redis: single-producer enqueue (several transports) and drain."""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

import redis
import redis.connection
import redis.utils

from trackflow.engine.queue import RedisQueue

CLICK = {
	"link": "Ab3xK9p",
	"code": "Ab3xK9p",
	"campaign": "Spring Sale 2026",
	"variant": None,
	"outcome": "destination",
	"ts": 1795529107.913,
	"visitor": "fdabeb4db2a0abfa485a2dc92c6ecba9",
	"new_visitor": 0,
	"ip": "203.0.113.0",
	"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
	"like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"referrer": "https://news.example.org/post",
	"is_bot": 0,
	"bot_reason": None,
	"is_scan": 0,
	"method": "GET",
}


def enqueue_round(client: redis.Redis, n: int) -> float:
	"""Clicks/s for n single enqueue() calls (one LPUSH round trip each)."""
	queue = RedisQueue(client, "clicks", prefix=f"tfbench:{uuid.uuid4().hex}")
	try:
		start = time.perf_counter()
		for _ in range(n):
			queue.enqueue(dict(CLICK))
		return n / (time.perf_counter() - start)
	finally:
		queue.clear()


def bare_lpush_round(client: redis.Redis, n: int) -> float:
	"""LPUSH/s of a 400-byte value: the round-trip floor, without the id and the JSON."""
	key = f"tfbench:{uuid.uuid4().hex}"
	payload = b"x" * 400
	try:
		start = time.perf_counter()
		for _ in range(n):
			client.lpush(key, payload)
		return n / (time.perf_counter() - start)
	finally:
		client.delete(key)


def drain_rate(client: redis.Redis, n: int, batch_size: int, rounds: int) -> list[float]:
	"""Records/s moved to the processing list, decoded and committed, with a sink that does nothing."""
	rates = []
	for _ in range(rounds):
		queue = RedisQueue(client, "clicks", prefix=f"tfbench:{uuid.uuid4().hex}")
		try:
			queue.enqueue_many([dict(CLICK) for _ in range(n)])
			stats = queue.drain_all(lambda batch: None, max_seconds=120, batch_size=batch_size)
			assert stats.records == n
			rates.append(n / stats.seconds)
		finally:
			queue.clear()
	return rates


def unix_socket_redis():
	"""A private redis-server on a unix socket (no TCP port), or None when redis-server is missing."""
	exe = shutil.which("redis-server")
	if not exe:
		return None, None
	folder = tempfile.mkdtemp(prefix="tfbench-")
	sock = os.path.join(folder, "redis.sock")
	proc = subprocess.Popen(
		[exe, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", folder],
		stdout=subprocess.DEVNULL,
	)
	for _ in range(100):
		if os.path.exists(sock):
			break
		time.sleep(0.05)
	return proc, sock


def show(label: str, rates: list[float]) -> None:
	print(
		f"{label:<58} median {statistics.median(rates):>10,.0f}/s  (min {min(rates):,.0f}, max {max(rates):,.0f})"
	)


def main():
	parser = argparse.ArgumentParser(description=__doc__)
	parser.add_argument("--enqueue", type=int, default=20_000, help="clicks per enqueue round")
	parser.add_argument("--drain", type=int, default=100_000, help="clicks per drain round")
	parser.add_argument("--rounds", type=int, default=5)
	args = parser.parse_args()
	print(f"redis-py {redis.__version__}, hiredis available: {redis.utils.HIREDIS_AVAILABLE}")

	tcp = redis.Redis(host="127.0.0.1", port=6379)
	python_parser = getattr(redis.connection, "_RESP2Parser", None) or redis.connection.PythonParser  # 4.x
	pool = redis.ConnectionPool(host="127.0.0.1", port=6379, parser_class=python_parser)
	pure = redis.Redis(connection_pool=pool)
	proc, sock = unix_socket_redis()
	# Rounds interleave the variants: this VM's loopback round trip drifts by 2-3x from one second to
	# the next, so variants measured one after the other would compare moments, not transports.
	variants = {
		"bare LPUSH of 400 bytes (round-trip floor), TCP": lambda: bare_lpush_round(tcp, args.enqueue),
		"enqueue, TCP 127.0.0.1, default parser": lambda: enqueue_round(tcp, args.enqueue),
		"enqueue, TCP, pure-Python parser": lambda: enqueue_round(pure, args.enqueue),
	}
	if int(redis.__version__.split(".")[0]) >= 5:  # RESP3 arrived in redis-py 5
		resp3 = redis.Redis(host="127.0.0.1", port=6379, protocol=3)
		variants["enqueue, TCP, RESP3"] = lambda: enqueue_round(resp3, args.enqueue)
	if proc:
		unix = redis.Redis(unix_socket_path=sock)
		variants["bare LPUSH of 400 bytes, unix socket"] = lambda: bare_lpush_round(unix, args.enqueue)
		variants["enqueue, unix socket, default parser"] = lambda: enqueue_round(unix, args.enqueue)
	results = {label: [] for label in variants}
	try:
		for _ in range(args.rounds):
			for label, run in variants.items():
				results[label].append(run())
	finally:
		if proc:
			proc.terminate()
			proc.wait()
	for label, rates in results.items():
		show(label, rates)
	bare, enqueued = list(results.values())[:2]
	ratio = [e / b for e, b in zip(enqueued, bare, strict=True)]
	print(f"enqueue / bare LPUSH, same round (TCP): median {statistics.median(ratio):.2f}")

	for batch_size in (1000, 5000):
		show(
			f"drain batch building, {args.drain:,} clicks, batch {batch_size}",
			drain_rate(tcp, args.drain, batch_size, 3),
		)


if __name__ == "__main__":
	main()
