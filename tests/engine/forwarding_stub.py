"""A stand-in for Meta's and GA4's endpoints: a real HTTP server on 127.0.0.1 that follows a script.

Threaded, HTTP/1.1 keep-alive (a reused session keeps its connections), so a sender's concurrent requests
are answered concurrently; it counts the requests in flight at once and records what it answered."""

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
	path: str
	query: dict
	body: dict
	arrived: float = 0.0  # time.monotonic() when the request had been read
	answered: float | None = None  # ... and when its answer went out (None: not, or the client had gone)
	status: int | None = None

	@property
	def event_ids(self) -> list[str]:
		"""Meta's event_id / GA4's transaction_id of every event in the request, in order."""
		if "data" in self.body:
			return [e.get("event_id") for e in self.body["data"]]
		return [e.get("params", {}).get("transaction_id") for e in self.body.get("events", [])]


@dataclass
class Reply:
	status: int = 200
	body: object = None  # dict -> JSON; None -> the platform's usual success answer
	headers: dict = field(default_factory=dict)
	hang_seconds: float = 0.0  # sleep before answering (past the client's timeout)
	when: Callable[[Received], bool] | None = None  # only for a request this holds for (None: any)


class Server(ThreadingHTTPServer):
	daemon_threads = True
	# socketserver's default backlog of 5 drops the SYNs of a sender opening 8 connections at once; the
	# kernel resends them a second later, past a test's timeout.
	request_queue_size = 128


class StubPlatform:
	"""Answers POSTs with the scripted replies in order (the first one whose `when` fits), then 200s;
	records every request it read. `latency` delays every answer (a network round trip); `fail_first`
	answers the first that many attempts of every distinct request (same events) with a 503."""

	def __init__(self, latency: float = 0.0, fail_first: int = 0):
		self.script: deque[Reply] = deque()
		self.received: list[Received] = []
		self.lock = threading.Lock()
		self.latency = latency
		self.fail_first = fail_first
		self.attempts: Counter = Counter()  # by the request's event ids
		self.in_flight = 0
		self.max_in_flight = 0
		stub = self

		class Handler(BaseHTTPRequestHandler):
			protocol_version = "HTTP/1.1"  # keep-alive, so a reused session reuses its connection
			disable_nagle_algorithm = True  # the status line and headers, then the body: no 40 ms stall

			def do_POST(self):
				length = int(self.headers.get("Content-Length") or 0)
				raw = self.rfile.read(length)
				split = urlsplit(self.path)
				request = Received(split.path, parse_qs(split.query), json.loads(raw or b"{}"))
				reply = stub.take(request)
				try:
					if reply.hang_seconds:
						time.sleep(reply.hang_seconds)
					if stub.latency:
						time.sleep(stub.latency)
					body = reply.body
					if body is None:
						body = stub.success(split.path, request.body)
					data = b"" if body == "" else json.dumps(body).encode()
					# Set before writing: the sender may read the answer and go on before a later line runs.
					request.answered = time.monotonic()
					try:
						self.send_response(reply.status)
						for name, value in reply.headers.items():
							self.send_header(name, value)
						self.send_header("Content-Type", "application/json")
						self.send_header("Content-Length", str(len(data)))
						self.end_headers()
						self.wfile.write(data)
					except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
						request.answered = None
				finally:
					with stub.lock:
						stub.in_flight -= 1

			def log_message(self, *args):
				pass

		self.server = Server(("127.0.0.1", 0), Handler)
		self.thread = threading.Thread(
			target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
		)

	def take(self, request: Received) -> Reply:
		"""Record `request` (now in flight) and pick its reply."""
		with self.lock:
			request.arrived = time.monotonic()
			self.received.append(request)
			self.in_flight += 1
			self.max_in_flight = max(self.max_in_flight, self.in_flight)
			key = tuple(request.event_ids)
			self.attempts[key] += 1
			if self.attempts[key] <= self.fail_first:
				reply = Reply(503, {"error": {"message": "unavailable (scripted)"}})
			else:
				reply = next((r for r in self.script if r.when is None or r.when(request)), None)
				if reply is None:
					reply = Reply()
				else:
					self.script.remove(reply)
			request.status = reply.status
			return reply

	@staticmethod
	def success(path: str, body: dict):
		if path.endswith("/events"):
			return {"events_received": len(body.get("data", [])), "messages": [], "fbtrace_id": "AbCdEf123"}
		if path.startswith("/debug/"):
			return {"validationMessages": []}
		return ""  # GA4's /mp/collect answers 204-like: nothing

	def accepted_ids(self) -> Counter:
		"""How often each event id was in a request answered 2xx (the answer sent, the client still there)."""
		with self.lock:
			return Counter(
				id for r in self.received if r.answered and 200 <= r.status < 300 for id in r.event_ids
			)

	@property
	def url(self) -> str:
		return f"http://127.0.0.1:{self.server.server_address[1]}"

	def __enter__(self) -> "StubPlatform":
		self.thread.start()
		return self

	def __exit__(self, *exc):
		self.server.shutdown()
		self.server.server_close()

	def then(self, *replies: Reply) -> "StubPlatform":
		self.script.extend(replies)
		return self
