"""Fuzz a live site's TrackFlow API from its own OpenAPI description (schemathesis).

Loads /api/method/trackflow.api.docs with an API token, then lets schemathesis call every described
operation with generated arguments and checks two things of each answer: no 5xx, and every 4xx carries a
message an integrator can act on (Frappe's `_server_messages` / `exception` / `message`, or a plain-text
reason). Methods that write (POST-only ones and document methods) are left out unless --include-writes:
they create links, conversions, PDFs and jobs, so run those on a throwaway site only.

    pip install 'schemathesis>=4,<5'
    python benchmarks/api/schemathesis_run.py http://127.0.0.1:8000 --site crm.localhost \\
        --token API_KEY:API_SECRET [--include-writes] [--max-examples 50] [-- <more schemathesis run options>]

Exit status: schemathesis's (0 when every check passed). Nothing here needs Frappe; point it at a site you
own, never at a production site.
"""

import argparse
import json
import sys
import tempfile
import urllib.request
from pathlib import Path

SPEC_PATH = "/api/method/trackflow.api.docs"
MESSAGE_KEYS = ("_server_messages", "exception", "message", "_error_message", "errors")


def fetch_spec(base_url: str, site: str | None, token: str) -> dict:
	request = urllib.request.Request(base_url.rstrip("/") + SPEC_PATH, headers=headers(site, token))
	with urllib.request.urlopen(request, timeout=30) as response:
		return json.loads(response.read())


def headers(site: str | None, token: str) -> dict[str, str]:
	found = {"Authorization": f"token {token}", "Accept": "application/json"}
	if site:
		found["Host"] = site
		found["X-Frappe-Site-Name"] = site
	return found


def writes(operation: dict, path: str) -> bool:
	"""A method that is POST only (Frappe's GET-able methods are the reads) or a document method."""
	return "GET" not in operation.get("x-frappe-http-methods", []) or path.startswith("/api/v2/document/")


def prune(spec: dict, include_writes: bool) -> tuple[dict, list[str]]:
	"""The spec without the writing operations (unless asked), and what was left out."""
	left_out = []
	for path, item in list(spec["paths"].items()):
		for verb, operation in list(item.items()):
			if path == SPEC_PATH or (not include_writes and writes(operation, path)):
				left_out.append(f"{verb.upper()} {path}")
				del item[verb]
		if not item:
			del spec["paths"][path]
	# The token is the only credential sent: without this schemathesis would invent `sid` session cookies.
	spec["security"] = [{"token": []}]
	spec["components"]["securitySchemes"].pop("session", None)
	return spec, left_out


def has_message(status: int, content_type: str, body: bytes) -> bool:
	"""A 4xx answer says why: Frappe's JSON error with a message, or a non-empty plain-text reason."""
	if not 400 <= status < 500:
		return True
	if "json" in content_type:
		try:
			data = json.loads(body or b"null")
		except ValueError:
			return False
		return isinstance(data, dict) and any(data.get(key) for key in MESSAGE_KEYS)
	return bool(body.strip())


def register_checks() -> None:
	import schemathesis

	@schemathesis.check
	def four_xx_has_message(ctx, response, case):
		"""Every 4xx answer carries a message (Frappe's error messages or a plain-text reason)."""
		content_type = response.headers.get("Content-Type", response.headers.get("content-type", ""))
		if isinstance(content_type, list):
			content_type = content_type[0] if content_type else ""
		if not has_message(response.status_code, content_type, response.content or b""):
			raise AssertionError(f"{response.status_code} without a message: {response.content[:200]!r}")


def main(argv: list[str] | None = None) -> int:
	argv = list(sys.argv[1:] if argv is None else argv)
	extra = argv[argv.index("--") + 1 :] if "--" in argv else []
	argv = argv[: argv.index("--")] if "--" in argv else argv
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	parser.add_argument("base_url", help="where the site answers, e.g. http://127.0.0.1:8000")
	parser.add_argument("--site", help="the site's name, sent as Host (a bench serves sites by name)")
	parser.add_argument("--token", required=True, help="API_KEY:API_SECRET of a user with TrackFlow roles")
	parser.add_argument("--include-writes", action="store_true", help="also POST-only and document methods")
	parser.add_argument("--max-examples", type=int, default=50, help="test cases per operation")
	parser.add_argument("--mode", default="positive", choices=("positive", "negative", "all"))
	parser.add_argument("--workers", default="1")
	args = parser.parse_args(argv)

	spec, left_out = prune(fetch_spec(args.base_url, args.site, args.token), args.include_writes)
	for line in left_out:
		print(f"left out: {line}", file=sys.stderr)
	with tempfile.TemporaryDirectory() as folder:
		schema = Path(folder) / "trackflow-openapi.json"
		schema.write_text(json.dumps(spec))
		register_checks()
		from schemathesis.cli import schemathesis as cli

		command = ["run", str(schema), "--url", args.base_url.rstrip("/")]
		for name, value in headers(args.site, args.token).items():
			command += ["-H", f"{name}: {value}"]
		command += [
			"--checks",
			"not_a_server_error,four_xx_has_message",
			"--mode",
			args.mode,
			"--max-examples",
			str(args.max_examples),
			"--workers",
			args.workers,
			"--rate-limit",
			"auto",
			*extra,
		]
		try:
			cli.main(args=command, prog_name="schemathesis", standalone_mode=False)
		except SystemExit as exit:
			return int(exit.code or 0)
	return 0


if __name__ == "__main__":
	sys.exit(main())
