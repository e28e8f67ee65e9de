# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import secrets

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import get_url

import trackflow
from trackflow.engine.collect import normalize_domain
from trackflow.engine.errors import ValidationError
from trackflow.links import clear_settings_cache
from trackflow.local_cache import forget
from trackflow.settings import get_settings


class TrackFlowSite(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		allowed_domains: DF.SmallText
		capture_ad_cookies: DF.Check
		consent_mode: DF.Literal["", "none", "opt-in", "opt-out"]
		enabled: DF.Check
		honour_do_not_track: DF.Check
		identity_secret: DF.Password | None
		site_key: DF.Data | None
		site_name: DF.Data
		snippet: DF.Code | None
		verify_identity: DF.Check
	# end: auto-generated types

	def validate(self):
		self.allowed_domains = "\n".join(self.domains())
		self.site_key = self.site_key or new_site_key()
		self.identity_secret = self.identity_secret or secrets.token_hex(32)
		self.snippet = embed_snippet(self.site_key, self.script_attributes())

	@frappe.whitelist(methods=["POST"])
	def reveal_identity_secret(self) -> str:
		"""The secret the website's backend signs identify calls with (TrackFlow Managers: write permission)."""
		self.check_permission("write")
		return self.get_password("identity_secret")

	def script_attributes(self) -> dict[str, str]:
		"""The server's settings the embed script reads from its tag: consent mode (the site's, else
		TrackFlow Settings'), session timeout, cookie lifetime, DNT/GPC when the site ignores them, and
		whether it sends the `_ga` and `_fbp` cookies (Capture Ad Platform Cookies; off by default)."""
		settings = get_settings()
		attributes = {
			"data-consent": self.consent_mode or settings.consent_mode,
			"data-session-minutes": str(settings.session_timeout_minutes),
			"data-cookie-days": str(settings.cookie_lifetime_days),
		}
		if not self.honour_do_not_track:
			attributes["data-respect-dnt"] = "false"
		if self.capture_ad_cookies:
			attributes["data-ad-cookies"] = "true"
		return attributes

	def domains(self) -> list[str]:
		"""The allowed domains in canonical form (host, *.host, optional :port), or a clear error."""
		domains = []
		for line in (self.allowed_domains or "").splitlines():
			if not line.strip():
				continue
			try:
				domains.append(normalize_domain(line))
			except ValidationError as e:
				frappe.throw(_("Allowed Domains: {0}").format(e), title=_("Invalid Domain"))
		if not domains:
			frappe.throw(_("List at least one allowed domain"), title=_("Invalid Domain"))
		return list(dict.fromkeys(domains))

	def on_update(self):
		clear_site_cache(self.site_key, (self.get_doc_before_save() or {}).get("site_key"))

	def on_trash(self):
		clear_site_cache(self.site_key)

	@frappe.whitelist(methods=["POST"])
	def rotate_key(self) -> str:
		"""Give the site a new public key; pages still sending the old one are refused from now on."""
		self.check_permission("write")
		self.site_key = new_site_key()
		self.save()
		return self.site_key


def new_site_key() -> str:
	return secrets.token_urlsafe(18)


def embed_snippet(site_key: str, attributes: dict[str, str] | None = None) -> str:
	# The version query string makes browsers fetch the new script after an upgrade (long cache lifetime).
	src = f"{get_url()}/assets/trackflow/js/trackflow.min.js?v={trackflow.__version__}"
	extra = "".join(f' {name}="{value}"' for name, value in (attributes or {}).items())
	return (
		"<script>window.trackflow=window.trackflow||function(){(trackflow.q=trackflow.q||[]).push(arguments)}"
		f'</script>\n<script defer src="{src}" data-site="{site_key}"{extra}></script>'
	)


SITES_CACHE_KEY = "trackflow:sites_by_key"


def clear_site_cache(*site_keys: str | None):
	"""Forget the cached site map (in Redis, and in this process; other processes see a change within
	collect's LOCAL_TTL) and the redirect settings, which list the sites' domains."""
	frappe.cache.delete_value(SITES_CACHE_KEY)
	forget(("collect-sites", frappe.local.site))
	clear_settings_cache()  # the redirect appends click ids only for TrackFlow Sites' domains


def sites_by_key() -> dict[str, dict]:
	"""What the collect endpoint needs of every site, by public key: from the cache, else one query.

	One map for all sites (a site has a handful of them), so a request with an unknown key, however many
	different keys a stranger tries, is answered from memory and never reaches the database."""
	sites = frappe.cache.get_value(SITES_CACHE_KEY)
	if sites is None:
		rows = frappe.get_all(
			"TrackFlow Site",
			fields=["name", "site_key", "enabled", "allowed_domains", "consent_mode", "honour_do_not_track"],
		)
		sites = {
			row.site_key: dict(row, domains=(row.allowed_domains or "").split())
			for row in rows
			if row.site_key
		}
		frappe.cache.set_value(SITES_CACHE_KEY, sites)
	return sites
