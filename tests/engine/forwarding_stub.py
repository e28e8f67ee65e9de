"""A stand-in for Meta's and GA4's endpoints: a real HTTP server on 127.0.0.1 that follows a script."""

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
	status: int = 200
	body: object = None  # dict -> JSON; None -> the platform's usual success answer
	headers: dict = field(default_factory=dict)
	hang_seconds: float = 0.0  # sleep before answering (past the client's timeout)


@dataclass
class Received:
	path: str
	query: dict
	body: dict


class StubPlatform:
	"""Answers POSTs with the scripted replies in order, then 200s; records every request it read."""

	def __init__(self):
		self.script: deque[Reply] = deque()
		self.received: list[Received] = []
		self.lock = threading.Lock()
		stub = self

		class Handler(BaseHTTPRequestHandler):
			protocol_version = "HTTP/1.1"  # keep-alive, so a reused session reuses its connection

			def do_POST(self):
				length = int(self.headers.get("Content-Length") or 0)
				raw = self.rfile.read(length)
				split = urlsplit(self.path)
				with stub.lock:
					stub.received.append(
						Received(split.path, parse_qs(split.query), json.loads(raw or b"{}"))
					)
					reply = stub.script.popleft() if stub.script else Reply()
				if reply.hang_seconds:
					time.sleep(reply.hang_seconds)
				body = reply.body
				if body is None:
					body = stub.success(split.path, json.loads(raw or b"{}"))
				data = b"" if body == "" else json.dumps(body).encode()
				try:
					self.send_response(reply.status)
					for name, value in reply.headers.items():
						self.send_header(name, value)
					self.send_header("Content-Type", "application/json")
					self.send_header("Content-Length", str(len(data)))
					self.end_headers()
					self.wfile.write(data)
				except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
					pass

			def log_message(self, *args):
				pass

		self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
		self.server.daemon_threads = True
		self.thread = threading.Thread(
			target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
		)

	@staticmethod
	def success(path: str, body: dict):
		if path.endswith("/events"):
			return {"events_received": len(body.get("data", [])), "messages": [], "fbtrace_id": "AbCdEf123"}
		if path.startswith("/debug/"):
			return {"validationMessages": []}
		return ""  # GA4's /mp/collect answers 204-like: nothing

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
