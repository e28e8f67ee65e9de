"""/r/<code>: a `before_request` hook that answers the redirect itself, before Frappe routes the request.

Why a before_request hook and not a page_renderer: Frappe's path resolver runs an uncached query and builds
route maps before any renderer is asked (DESIGN.md has the measurements). Raising an HTTPException that
carries our response ends the request at once (frappe.app.application returns it as the response), with
no SQL: the link comes from the cache and the click goes to the Redis queue. What that path skips, this
module does itself: cookies on the response, its own uncached 404, bots flagged, a per-IP rate limit.
All the decisions are in trackflow.engine.redirect.decide; a page_renderer fallback would call it too.
"""

import time

import frappe
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from trackflow import queues
from trackflow.clicks import record_click
from trackflow.engine import redirect as engine
from trackflow.engine.queue import RateLimited
from trackflow.engine.ratelimit import allow, client_key
from trackflow.links import cached_link, claim_click, redirect_settings

PER_IP_PER_MINUTE = 300

NOT_FOUND_PAGE = (
	"<!doctype html><meta charset=utf-8><meta name=robots content=noindex><title>Link not found</title>"
	"<body style='font-family:system-ui,sans-serif;text-align:center;padding:4rem'>"
	"<h1>This link is not available</h1><p>It may have expired or been mistyped.</p>"
)


def before_request():
	"""Answer /<prefix>/<code> requests; return None (let Frappe go on) for every other path."""
	request = frappe.request
	if not request or request.method not in ("GET", "HEAD"):
		return
	prefix, settings = redirect_settings()
	code = engine.redirect_code(request.path, prefix)
	if code is None:
		return
	raise HTTPException(response=respond(code, settings))


def respond(code: str, settings: engine.RedirectSettings) -> Response:
	request = frappe.request
	ip = frappe.local.request_ip
	facts = engine.RedirectRequest(
		code=code,
		method=request.method,
		query=request.query_string.decode("latin-1"),
		headers=request.headers,
		client_ip=ip,
		cookies=request.cookies,
		is_https=request.scheme == "https" or request.headers.get("X-Forwarded-Proto") == "https",
		now=time.time(),
	)
	link = cached_link(code)
	decision = engine.decide(link, facts, settings)
	if decision.click and decision.click.outcome == "destination" and not decision.click.is_bot:
		if link.get("max_clicks") and not claim_click(link):
			# the limit was reached since the entry was cached: this click gets what a full link gets
			decision = engine.decide({**link, "clicks": link["max_clicks"]}, facts, settings)
	# The per-client limit is counted in the same Redis round trip as the click's push.
	limit = (f"trackflow|{frappe.local.site}|redirect-limit|{client_key(ip)}", PER_IP_PER_MINUTE)
	try:
		if decision.click:
			record_click(decision.click, limit)
		elif not allow(queues.limiter_connection(), *limit):
			raise RateLimited(limit[0])
	except RateLimited:
		return Response(
			"Too many requests", status=429, headers={"Retry-After": "60", "Cache-Control": "no-store"}
		)
	if decision.status != 302:
		response = Response(NOT_FOUND_PAGE, status=404, mimetype="text/html")
	else:
		response = Response(status=302, headers={"Location": decision.location})
	for name, value in decision.headers:
		response.headers[name] = value
	for cookie in decision.cookies:
		response.set_cookie(
			cookie.name,
			cookie.value,
			max_age=cookie.max_age,
			path=cookie.path,
			domain=cookie.domain,
			secure=cookie.secure,
			httponly=cookie.http_only,
			samesite=cookie.same_site,
		)
	return response
