"""Tracked links as the redirect reads them: the per-link cache entry (built from the link, its variants
and the UTM merge mode), the redirect settings, and link expiry. The web hook (`web/redirect.py`) asks
this module and answers; the drain and the controllers tell it when an entry is stale."""

import frappe
from frappe.utils import now_datetime

from trackflow import queues
from trackflow.engine import ratelimit
from trackflow.engine import redirect as engine
from trackflow.engine.links import normalize_slug
from trackflow.local_cache import cached, forget
from trackflow.settings import get_settings
from trackflow.times import aware

LINK_CACHE_KEY = "trackflow:link:"


SETTINGS_TTL = 30  # seconds a web worker keeps the redirect settings before reading them again


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
		expires=aware(link.expires_at).timestamp() if link.expires_at else None,
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
	doc = get_settings()
	site_domains = frappe.get_all("TrackFlow Site", {"enabled": 1}, pluck="allowed_domains")
	settings = engine.RedirectSettings.from_settings(doc.as_dict(), "\n".join(site_domains))
	return doc.redirect_prefix or "r", settings


def clear_settings_cache() -> None:
	"""Called when TrackFlow Settings or a TrackFlow Site changes (this process at once, others in 30 s)."""
	forget(("redirect-settings", frappe.local.site))


def expire_links() -> list[str]:
	"""Daily: links past their expiry date become Expired (their fallback still answers)."""
	# "is set" too: Frappe compares IFNULL(expires_at, '0001-01-01') and would expire links with no expiry.
	expired = frappe.get_all(
		"Tracked Link",
		filters=[["status", "=", "Active"], ["expires_at", "is", "set"], ["expires_at", "<", now_datetime()]],
		pluck="name",
	)
	for name in expired:
		frappe.db.set_value("Tracked Link", name, "status", "Expired")
		invalidate_link(name)
	return expired


def click_limit_key(link: str) -> str:
	return f"trackflow|{frappe.local.site}|link-clicks|{link}"


def claim_click(link: dict) -> bool:
	"""Take one of a limited link's clicks at the moment of the click (an atomic Redis counter that
	starts from the stored count): False when the limit is reached. With redis_queue away the stored
	count of the cached entry decides, as `engine.redirect.decide` already did."""
	claimed = ratelimit.claim(
		queues.limiter_connection(),
		click_limit_key(link["name"]),
		link["max_clicks"],
		link.get("clicks") or 0,
	)
	return True if claimed is None else claimed


def reconcile_click_limits(counts: dict[str, int]) -> None:
	"""The drain's stored click counts of limited links raise their claim counters (clicks written while
	Redis was away count too); a counter never goes down."""
	connection = queues.limiter_connection()
	for link, stored in counts.items():
		ratelimit.reconcile(connection, click_limit_key(link), stored)
