"""Browser fixtures: headless Chromium via Playwright, a page origin and a recording "CRM" origin."""

import json
import os
import secrets
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from trackflow.engine.collect import parse_collect

JS = Path(__file__).resolve().parents[2] / "trackflow" / "public" / "js"
SOURCE = JS / "trackflow.js"  # the readable source
SCRIPT = JS / "trackflow.min.js"  # what the snippet loads: every behaviour test runs this file
COLLECT_PATH = "/api/method/trackflow.api.tracking.collect"
SCRIPT_PATH = "/assets/trackflow/js/trackflow.min.js"
SITE_KEY = "pk_test_site_0001"
CHROMIUM_ARGS = [
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--no-first-run",
]
# Makes Date.now() run `localStorage.__tf_shift` ms ahead: session timeouts without waiting.
CLOCK_SHIFT = """(() => {
	const shift = +localStorage.getItem("__tf_shift") || 0, now = Date.now;
	Date.now = () => now() + shift;
})();"""


def _chromium_path() -> str | None:
	return (
		os.environ.get("TRACKFLOW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
	)


def _unavailable(reason: str):
	if os.environ.get("CI"):
		pytest.fail(f"{reason} (CI is set, so the browser tests may not be skipped)", pytrace=False)
	pytest.skip(reason)


class _Server(ThreadingHTTPServer):
	daemon_threads = True
	allow_reuse_address = True


class Collector:
	"""The CRM origin: serves the embed script and records every collect request."""

	def __init__(self):
		self.requests: list[dict] = []
		self.stale: list[dict] = []  # requests carrying another test's site key
		self.site_key = SITE_KEY
		self.fail_next = 0  # answer this many collect requests with fail_status
		self.fail_status = 503  # 0: close the connection without an answer (a network error)
		self.retry_after: str | None = None  # the Retry-After header of a failed answer
		self.script = SCRIPT.read_bytes()
		self.lock = threading.Lock()

	def batches(self) -> list[dict]:
		with self.lock:
			return [r["json"] for r in self.requests if r["status"] == 204]

	def events(self, type_: str | None = None) -> list[dict]:
		return [e for b in self.batches() for e in b["events"] if type_ is None or e["type"] == type_]

	def wait(self, predicate, timeout: float = 5.0, what: str = "collect requests"):
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			if predicate(self):
				return
			time.sleep(0.05)
		raise AssertionError(
			f"timed out waiting for {what}; got {json.dumps(self.batches(), indent=1)[:3000]}"
		)

	def wait_events(self, count: int, type_: str | None = None, timeout: float = 5.0) -> list[dict]:
		self.wait(lambda c: len(c.events(type_)) >= count, timeout, f"{count} {type_ or ''} events")
		return self.events(type_)

	def statuses(self) -> list[int]:
		with self.lock:
			return [r["status"] for r in self.requests]


class Pages:
	"""The site owner's origin: test pages registered by path (the query string is ignored)."""

	def __init__(self):
		self.pages: dict[str, str] = {}


def _collector_handler(collector: Collector):
	class Handler(BaseHTTPRequestHandler):
		def log_message(self, *args):
			pass

		def do_GET(self):
			if self.path.split("?")[0] != SCRIPT_PATH:
				self.send_error(404)
				return
			self.send_response(200)
			self.send_header("Content-Type", "application/javascript")
			self.send_header("Content-Length", str(len(collector.script)))
			self.end_headers()
			self.wfile.write(collector.script)

		def do_POST(self):
			body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
			with collector.lock:
				if json.loads(body).get("site") != collector.site_key:
					collector.stale.append({"body": body, "at": time.monotonic()})
					self.send_response(204)
					self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
					self.end_headers()
					return
				status = collector.fail_status if collector.fail_next > 0 else 204
				if status != 204:
					collector.fail_next -= 1
				collector.requests.append(
					{
						"path": self.path,
						"status": status,
						"body": body,
						"json": json.loads(body),
						"content_type": self.headers.get("Content-Type"),
						"origin": self.headers.get("Origin"),
						"cookie": self.headers.get("Cookie"),
						"at": time.monotonic(),
					}
				)
			if not status:
				self.close_connection = True
				self.connection.shutdown(socket.SHUT_RDWR)
				return
			self.send_response(status)
			self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
			# what the real endpoint must send too, for the script to read Retry-After cross-origin
			self.send_header("Access-Control-Expose-Headers", "Retry-After")
			if status != 204 and collector.retry_after is not None:
				self.send_header("Retry-After", collector.retry_after)
			self.send_header("Content-Length", "0")
			self.end_headers()

	return Handler


def _pages_handler(pages: Pages):
	class Handler(BaseHTTPRequestHandler):
		def log_message(self, *args):
			pass

		def do_GET(self):
			path = self.path.split("?")[0]
			html = pages.pages.get(path)
			if path == "/favicon.ico":  # Chromium asks for it; a 404 would be a console error
				self.send_response(204)
				self.end_headers()
				return
			if html is None:
				self.send_error(404)
				return
			data = html.encode()
			self.send_response(200)
			self.send_header("Content-Type", "text/html; charset=utf-8")
			self.send_header("Content-Length", str(len(data)))
			self.send_header("Cache-Control", "no-store")
			self.end_headers()
			self.wfile.write(data)

		def do_POST(self):  # form submissions land on a page too
			# Read the body first: closing the socket with it unread makes the kernel send a reset, which
			# can reach Chromium before the page does and leave the submission's navigation hanging.
			self.rfile.read(int(self.headers.get("Content-Length") or 0))
			self.do_GET()

	return Handler


def _serve(handler) -> tuple[_Server, int]:
	server = _Server(("127.0.0.1", 0), handler)
	threading.Thread(target=server.serve_forever, daemon=True).start()
	return server, server.server_address[1]


@pytest.fixture(scope="session")
def browser():
	path = _chromium_path()
	if not path:
		_unavailable("chromium not found: apt-get install -y chromium (or set TRACKFLOW_CHROMIUM)")
	try:
		from playwright.sync_api import sync_playwright
	except ImportError:
		_unavailable("playwright not installed: pip install 'playwright>=1.40'")
	with sync_playwright() as playwright:
		# Playwright gives every launch a fresh temporary --user-data-dir and adds --headless.
		instance = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
		yield instance
		instance.close()


@pytest.fixture(scope="session")
def servers():
	collector, pages = Collector(), Pages()
	crm, crm_port = _serve(_collector_handler(collector))
	site, site_port = _serve(_pages_handler(pages))
	yield {
		"collector": collector,
		"pages": pages,
		"crm_origin": f"http://localhost:{crm_port}",
		"site_origin": f"http://127.0.0.1:{site_port}",
	}
	crm.shutdown()
	site.shutdown()


class Harness:
	"""One test's view: a fresh browser context (no cookies), page helpers and the collector."""

	def __init__(self, browser, servers):
		self.collector: Collector = servers["collector"]
		# Each test's pages carry a site key of their own: a late request of an earlier test (a resend
		# timer, a keepalive sent as its page closed) is then set aside, never counted as this test's.
		self.site_key = f"pk_test_{secrets.token_hex(6)}"
		with self.collector.lock:
			self.collector.site_key = self.site_key
			self.collector.requests.clear()
		self.collector.fail_next = 0
		self.collector.fail_status = 503
		self.collector.retry_after = None
		self.pages: Pages = servers["pages"]
		self.pages.pages.clear()
		self.crm_origin = servers["crm_origin"]
		self.site_origin = servers["site_origin"]
		self.context = browser.new_context()
		self.context.add_init_script(CLOCK_SHIFT)
		self.console_errors: list[str] = []
		self.allowed_console = ()  # substrings of console errors a test expects
		self.page = self.context.new_page()
		# A stuck browser call fails the test in bounded time instead of hanging the run.
		self.page.set_default_timeout(20_000)
		self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
		self.page.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"))

	def add_page(
		self, path: str, attrs: str = "", body: str = "", head: str = "", title: str = "Test page"
	) -> str:
		"""Register a page carrying the snippet; returns its URL."""
		src = f"{self.crm_origin}{SCRIPT_PATH}?v=1"
		self.pages.pages[path] = (
			f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title>{head}"
			f'<script defer src="{src}" data-site="{self.site_key}" {attrs}></script></head>'
			f"<body>{body}</body></html>"
		)
		return self.site_origin + path

	def add_plain_page(self, path: str, html: str) -> str:
		self.pages.pages[path] = html
		return self.site_origin + path

	def goto(self, url: str, flush: bool = True):
		self.page.goto(url)
		self.page.wait_for_function("window.trackflow && window.trackflow.tf === 1")
		if flush:
			self.flush()

	def flush(self):
		"""Fire pagehide (the script sends at once) instead of waiting for its one-second batch timer."""
		self.page.evaluate("dispatchEvent(new Event('pagehide'))")

	def assert_nothing_sent(self, after: float = 0.4):
		self.flush()
		time.sleep(after)
		assert self.collector.requests == [], f"unexpected requests: {self.collector.batches()}"

	def cookies(self) -> dict[str, dict]:
		return {c["name"]: c for c in self.context.cookies(self.site_origin)}

	def shift_clock(self, ms: int):
		self.page.evaluate(f"localStorage.setItem('__tf_shift', {ms})")

	def close(self):
		self.context.close()


@pytest.fixture
def tf(browser, servers):
	harness = Harness(browser, servers)
	yield harness
	harness.close()
	unexpected = [e for e in harness.console_errors if not any(a in e for a in harness.allowed_console)]
	assert not unexpected, f"console errors: {unexpected}"
	# Every batch the script sent must pass the server's validator.
	for request in harness.collector.requests:
		parse_collect(request["body"], max_skew=2 * 86400)  # tests shift the clock by up to an hour
