"""/r/<code>: a `before_request` hook that answers the redirect itself, before Frappe routes the request.

Why a before_request hook and not a page_renderer: Frappe's path resolver runs an uncached query and builds
route maps before any renderer is asked (DESIGN.md has the measurements). Raising an HTTPException that
carries our response ends the request at once (frappe.app.application returns it as the response), with
no SQL: the link comes from the cache and the click goes to the Redis queue. What that path skips, this
module does itself: cookies on the response, its own uncached 404, bots flagged, a per-IP rate limit.
All the decisions are in trackflow.engine.redirect.decide; a page_renderer fallback would call it too.
"""

import time
from zoneinfo import ZoneInfo

import frappe
import redis
from frappe.utils import get_datetime, get_system_timezone
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from trackflow import queues
from trackflow.engine import redirect as engine
from trackflow.engine.links import normalize_slug
from trackflow.engine.queue import RateLimited
from trackflow.engine.ratelimit import allow, client_key
from trackflow.error_log import log_failure
from trackflow.local_cache import cached, forget

LINK_CACHE_KEY = "trackflow:link:"
PER_IP_PER_MINUTE = 300
SETTINGS_TTL = 30  # seconds a web worker keeps the redirect settings before reading them again

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
	decision = engine.decide(cached_link(code), facts, settings)
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


def record_click(click: dict, limit: tuple[str, int] | None = None) -> None:
	"""One round trip to the queue (the rate limit counted with it; RateLimited when over). While
	redis_queue is away the click is written directly (the slow path, the same sink the drain uses) and
	counted, and the limit fails open; whatever fails there, the visitor still gets the redirect."""
	try:
		queues.enqueue("clicks", click, [limit] if limit else ())  # None: shed at the backlog cap (counted)
		return
	except redis.RedisError:
		pass
	from trackflow.drain import count_direct_write, store_clicks

	try:
		store_clicks([click], parse_agents=False)
		count_direct_write()
		frappe.db.commit()
	except Exception as error:
		frappe.db.rollback()
		log_failure(
			"TrackFlow: a click could not be queued nor written", error, "Tracked Link", click.get("link")
		)


def cached_link(code: str) -> dict | None:
	"""The link as engine.decide reads it: from the cache, else one indexed query (then cached).

	Codes are unique regardless of case, so the cache key is the case-folded code. Unknown codes are
	cached as {} for a minute, so a scan of random codes does not reach the database.
	"""
	key = LINK_CACHE_KEY + normalize_slug(code)
	link = frappe.cache.get_value(key)
	if link is None:
		link = build_link_entry(code)
		frappe.cache.set_value(key, link or {}, expires_in_sec=None if link else 60)
	return link or None


def build_link_entry(code: str) -> dict | None:
	name = frappe.db.get_value("Tracked Link", {"short_code": code}, "name")
	if not name:
		return None
	link = frappe.get_doc("Tracked Link", name)
	return engine.prepare_link(
		link.short_code,
		link.destination_url,
		name=link.name,
		status=link.status,
		campaign=link.campaign,
		fallback=link.fallback_url,
		expires=get_datetime(link.expires_at).replace(tzinfo=ZoneInfo(get_system_timezone())).timestamp()
		if link.expires_at
		else None,
		max_clicks=link.max_clicks,
		clicks=link.total_clicks,
		variants=[
			{"label": v.label, "destination": v.destination_url, "weight": v.weight} for v in link.variants
		],
		utm=link.utm(),
		utm_mode=frappe.db.get_single_value("TrackFlow Settings", "utm_merge_mode") or "keep",
	)


def invalidate_link(name: str, *codes: str | None) -> None:
	"""Forget a link's cache entry (its current code and any old ones)."""
	codes = codes or (frappe.db.get_value("Tracked Link", name, "short_code"),)
	for code in filter(None, codes):
		frappe.cache.delete_value(LINK_CACHE_KEY + normalize_slug(code))


def clear_link_cache() -> None:
	"""Forget every cached link entry: they bake in settings (the UTM merge mode), so a change of those
	must reach every link at once. Entries are rebuilt on the next click, one indexed query each."""
	frappe.cache.delete_keys(LINK_CACHE_KEY)


def redirect_settings() -> tuple[str, engine.RedirectSettings]:
	"""(path prefix, RedirectSettings) for this site, kept per process for SETTINGS_TTL seconds."""
	return cached(("redirect-settings", frappe.local.site), SETTINGS_TTL, _load_redirect_settings)


def _load_redirect_settings() -> tuple[str, engine.RedirectSettings]:
	from trackflow.trackflow.doctype.trackflow_settings.trackflow_settings import get_settings

	doc = get_settings()
	site_domains = frappe.get_all("TrackFlow Site", {"enabled": 1}, pluck="allowed_domains")
	settings = engine.RedirectSettings.from_settings(doc.as_dict(), "\n".join(site_domains))
	return doc.redirect_prefix or "r", settings


def clear_settings_cache() -> None:
	"""Called when TrackFlow Settings or a TrackFlow Site changes (this process at once, others in 30 s)."""
	forget(("redirect-settings", frappe.local.site))
