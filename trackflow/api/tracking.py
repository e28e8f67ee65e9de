"""The embed script's endpoint: validate, push one record to Redis, answer 204. No database write here."""

import json
import time

import frappe
import redis
from frappe import _
from werkzeug.wrappers import Response

from trackflow import queues
from trackflow.engine import bots, ingest
from trackflow.engine import collect as wire
from trackflow.engine.errors import ValidationError
from trackflow.engine.privacy import truncate_ip
from trackflow.engine.queue import RateLimited
from trackflow.engine.ratelimit import allow, client_key
from trackflow.local_cache import cached
from trackflow.permissions import TRACKFLOW_INTEGRATION, TRACKFLOW_MANAGER, require_roles
from trackflow.settings import get_settings
from trackflow.trackflow.doctype.trackflow_site.trackflow_site import sites_by_key

# A busy office behind one NAT address sends a few batches a second at most; a site key shared by every
# visitor of a website gets a much larger budget, and each client (an IPv4 address or an IPv6 /64) is held
# to its own limit first, so no single client can spend the site's budget. Frappe's limiter keys on
# frappe.local.request_ip, the first X-Forwarded-For entry: the reverse proxy must overwrite that header
# (README, "Deploying").
PER_IP_PER_MINUTE = 600
PER_SITE_KEY_PER_MINUTE = 30_000
# Site keys and settings are kept this long per web process (a rotated key or a change is seen within it).
LOCAL_TTL = 10
RETRY_AFTER = "30"  # seconds the embed script waits before resending when the queue is unavailable


# Guests call this: it is how visitors' browsers report visits. It takes POST only, is capped in size before
# parsing, strictly validated, accepted only from pages on the site's allowed domains, rate limited per
# client (IPv4 address or IPv6 /64) and per site key, and writes nothing but one Redis record (the drain job
# stores it). The limits are counted by the queue's push script in the same round trip as the record, which
# replaces Frappe's @rate_limit: that one keys on the full address (an IPv6 client has 2**64 of them) and
# costs two more Redis round trips per request (benchmarks/README.md: 1.11-1.15x ping with it, 1.07-1.08x
# without). Requests refused before the limit (bad bodies, unknown keys) touch neither Redis nor MariaDB.
@frappe.whitelist(allow_guest=True, methods=["POST"])
def collect() -> Response:
	"""The embed script's batch (page views, events, identify, consent, conversions) as a `text/plain` JSON
	body of at most 32 KB, from a page on one of the TrackFlow Site's allowed domains. Answers 204 with no
	body when queued, else a plain-text reason: 400 invalid batch, 403 unknown site key or origin, 413 too
	large, 429 rate limited (Retry-After), 503 queue unavailable (Retry-After; resend the batch unchanged)."""
	request = frappe.request
	origin = request.headers.get("Origin") or request.headers.get("Referer")
	if (request.content_length or 0) > wire.MAX_BYTES:
		return _answer(413, "payload too large")
	body = request.get_data()
	try:
		batch = wire.parse_collect(body, now=time.time())
	except ValidationError as e:
		return _answer(400, str(e))
	site = cached(("collect-sites", frappe.local.site), LOCAL_TTL, sites_by_key).get(batch.site)
	if not site or not site["enabled"]:
		return _answer(403, "unknown site key")
	if not wire.origin_allowed(origin, site["domains"]):
		return _answer(403, "origin not allowed")
	cors = wire.cors_headers(origin)
	user_agent = (request.headers.get("User-Agent") or "")[:512]
	if bots.is_bot(request.method, user_agent, request.headers)[0]:
		# The redirect's rule (engine.bots): a crawler or headless browser is no visitor here either.
		return _answer(204, None, cors)
	prefix = f"trackflow|{frappe.local.site}"
	# The client's own limit first, inside the site key's budget; counted in the push's round trip.
	limits = [
		(f"{prefix}|collect-client|{client_key(frappe.local.request_ip)}", PER_IP_PER_MINUTE),
		(f"{prefix}|collect-limit|{batch.site}", PER_SITE_KEY_PER_MINUTE),
	]
	settings = cached(("collect-settings", frappe.local.site), LOCAL_TTL, get_settings)
	try:
		if not settings.enabled:
			if not all(allow(queues.limiter_connection(), *limit) for limit in limits):
				raise RateLimited(limits[0][0])
			return _answer(204, None, cors)
		ip = frappe.local.request_ip
		if settings.truncate_ip:
			ip = truncate_ip(ip, settings.ipv4_prefix_length, settings.ipv6_prefix_length)
		record = wire.encode_record(body, batch, ip=ip, ua=user_agent, site=site["name"])
		queued = queues.enqueue("collect", record, limits)
	except RateLimited:
		return _answer(429, "rate limit exceeded", {**cors, "Retry-After": "60"})
	except redis.RedisError:
		queued = None
	if queued is None:  # the queue is away or full: the browser keeps the batch and resends it
		return _answer(503, "temporarily unavailable", {**cors, "Retry-After": RETRY_AFTER})
	return _answer(204, None, cors)


def _answer(status: int, reason: str | None, headers: dict | None = None) -> Response:
	"""A bare response: no Frappe JSON envelope, no cookies; the reason is for whoever debugs the site."""
	return Response(reason, status=status, headers=headers or {}, mimetype="text/plain")


EVENTS_PER_MINUTE = 60  # track_event calls per API user and minute (each up to 1,000 events)


@frappe.whitelist(methods=["POST"])
def track_event(events: list | str) -> dict:
	"""Server-side events from a backend (token auth): up to 1,000 page views, custom events, conversions
	and offline touches, each with an `event_id` (a resend counts once), a `type`, a `time` and who it is
	about (`visitor`, `lead`, `deal` or `email`); checked with the embed script's rules, queued and stored
	by the drain like collect's batches, attributed like every other touch. Answers {"accepted", "rejected":
	[{index, event_id, error}]}; 429 over 60 calls a minute per user, 503 when the queue is away or full
	(resend the batch: event ids make it safe). Permission: TrackFlow Manager or TrackFlow Integration."""
	require_roles(TRACKFLOW_MANAGER, TRACKFLOW_INTEGRATION)
	if isinstance(events, str):
		try:
			events = json.loads(events)
		except ValueError:
			frappe.throw(_("events must be a JSON list"))
	try:
		accepted, rejected = ingest.parse_events(events, now=time.time())
	except ValidationError as error:
		frappe.throw(str(error))
	limit = (f"trackflow|{frappe.local.site}|events-limit|{frappe.session.user}", EVENTS_PER_MINUTE)
	try:
		if not allow(queues.limiter_connection(), *limit):
			raise RateLimited(limit[0])
		queued = queues.enqueue_batch("events", [e.encode() for e in accepted]) if accepted else 0
	except RateLimited:
		frappe.throw(
			_("Too many calls: at most {0} a minute").format(EVENTS_PER_MINUTE), frappe.RateLimitExceededError
		)
	except redis.RedisError:
		queued = None
	if accepted and not queued:
		frappe.throw(_("The event queue is unavailable or full: send the batch again in a minute"), QueueBusy)
	return {
		"accepted": len(accepted),
		"rejected": [{"index": r.index, "event_id": r.event_id, "error": r.error} for r in rejected],
	}


class QueueBusy(frappe.ValidationError):
	http_status_code = 503
