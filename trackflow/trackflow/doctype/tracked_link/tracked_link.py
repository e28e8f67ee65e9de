# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from urllib.parse import urlsplit

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import get_url

from trackflow.engine import links, qr
from trackflow.engine.errors import ValidationError
from trackflow.links import invalidate_link
from trackflow.settings import get_settings

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
CODE_ATTEMPTS = 5


class TrackedLink(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from trackflow.trackflow.doctype.tracked_link_variant.tracked_link_variant import TrackedLinkVariant

		bot_clicks: DF.Int
		campaign: DF.Link | None
		destination_url: DF.SmallText
		expires_at: DF.Datetime | None
		fallback_url: DF.SmallText | None
		last_click_at: DF.Datetime | None
		max_clicks: DF.Int
		qr_box_size: DF.Int
		qr_code_png: DF.AttachImage | None
		qr_code_svg: DF.Attach | None
		qr_error_correction: DF.Literal["", "L", "M", "Q", "H"]
		qr_public: DF.Check
		short_code: DF.Data | None
		short_url: DF.Data | None
		status: DF.Literal["", "Active", "Disabled", "Expired"]
		title: DF.Data | None
		total_clicks: DF.Int
		unique_visitors: DF.Int
		utm_campaign: DF.Data | None
		utm_content: DF.Data | None
		utm_medium: DF.Data | None
		utm_source: DF.Data | None
		utm_term: DF.Data | None
		variants: DF.Table[TrackedLinkVariant]
	# end: auto-generated types

	def validate(self):
		try:
			self.destination_url = links.normalize_destination(self.destination_url)
			if self.fallback_url:
				self.fallback_url = links.normalize_destination(self.fallback_url, "Fallback URL")
			for variant in self.variants:
				variant.destination_url = links.normalize_destination(
					variant.destination_url, f"Variant {variant.label or variant.idx} destination"
				)
			if self.short_code and (self.is_new() or self.has_value_changed("short_code")):
				self.short_code = links.validate_slug(self.short_code)
			qr.QrOptions(box_size=self.qr_box_size or 10, error_correction=self.qr_error_correction or "M")
		except ValidationError as e:
			frappe.throw(str(e), title=_("Invalid Tracked Link"))
		if any((v.weight or 0) <= 0 for v in self.variants):
			frappe.throw(_("Every A/B variant needs a weight above 0"), title=_("Invalid Tracked Link"))
		if len({(v.label or "").casefold() for v in self.variants}) < len(self.variants):
			frappe.throw(
				_("A/B variant labels must be different from each other"), title=_("Invalid Tracked Link")
			)
		self.set_campaign_defaults()
		self.title = self.title or self.default_title()
		if self.short_code:
			self.check_code_is_free()
		else:
			self.short_code = links.new_code(
				get_settings().short_code_length or links.DEFAULT_SHORT_CODE_LENGTH
			)
			self.flags.generated_code = True
		self.short_url = site_short_url(self.short_code)

	def set_campaign_defaults(self):
		"""UTM fields left empty take the campaign's defaults (utm_campaign: the campaign's name)."""
		if not self.campaign:
			return
		campaign = frappe.get_cached_doc("Link Campaign", self.campaign)
		for fieldname in UTM_FIELDS:
			if not self.get(fieldname):
				self.set(fieldname, campaign.get(fieldname))
		self.utm_campaign = self.utm_campaign or campaign.name

	def default_title(self) -> str:
		parts = urlsplit(self.destination_url)
		return f"{parts.hostname}{parts.path}"[:140]

	def check_code_is_free(self):
		# A clear message for a taken custom code; the unique index still closes the race in db_insert.
		taken = frappe.db.get_value(
			"Tracked Link", {"short_code": self.short_code, "name": ("!=", self.name)}
		)
		if taken:
			frappe.throw(
				_(
					"Short code {0} is already used by another link (codes are unique regardless of case)"
				).format(frappe.bold(self.short_code)),
				frappe.DuplicateEntryError,
			)

	def db_insert(self, *args, **kwargs):
		"""Insert; a generated code that collides on the unique index is replaced and the insert retried."""
		for attempt in range(CODE_ATTEMPTS):
			try:
				return super().db_insert(*args, **kwargs)
			except frappe.UniqueValidationError:
				if not self.flags.generated_code or attempt == CODE_ATTEMPTS - 1:
					raise
				frappe.clear_last_message()  # Frappe's "must be unique" message for the discarded code
				self.short_code = links.new_code(len(self.short_code))
				self.short_url = site_short_url(self.short_code)

	def on_update(self):
		before = self.get_doc_before_save()
		invalidate_link(self.name, self.short_code, before.short_code if before else None)
		if not self.qr_code_png or self.qr_inputs_changed(before):
			self.make_qr_files()

	def on_trash(self):
		invalidate_link(self.name, self.short_code)

	def utm(self) -> dict:
		"""The link's UTM parameters by their engine names (source, medium, ...)."""
		return {fieldname.removeprefix("utm_"): self.get(fieldname) for fieldname in UTM_FIELDS}

	def qr_inputs_changed(self, before) -> bool:
		fields = ("short_url", "qr_public", "qr_error_correction", "qr_box_size")
		return before is None or any(self.get(f) != before.get(f) for f in fields)

	def make_qr_files(self):
		"""PNG and SVG of the short URL with the scan marker, attached to this link (private by default)."""
		options = qr.QrOptions(
			box_size=self.qr_box_size or 10, error_correction=self.qr_error_correction or "M"
		)
		target = qr.qr_target_url(self.short_url)
		for fieldname, extension, content in (
			("qr_code_png", "png", qr.render_png(target, options)),
			("qr_code_svg", "svg", qr.render_svg(target, options)),
		):
			old = self.get(fieldname)
			file = frappe.get_doc(
				{
					"doctype": "File",
					"file_name": f"qr-{self.short_code}.{extension}",
					"attached_to_doctype": self.doctype,
					"attached_to_name": self.name,
					"attached_to_field": fieldname,
					"is_private": 0 if self.qr_public else 1,
					"content": content,
				}
			).insert(ignore_permissions=True)
			self.db_set(fieldname, file.file_url)
			if old and old != file.file_url:
				for name in frappe.get_all(
					"File",
					{"file_url": old, "attached_to_doctype": self.doctype, "attached_to_name": self.name},
					pluck="name",
				):
					frappe.delete_doc("File", name, ignore_permissions=True)

	def public_view(self) -> dict:
		"""What the API returns about a link."""
		return {
			"name": self.name,
			"short_code": self.short_code,
			"short_url": self.short_url,
			"destination_url": self.destination_url,
			"campaign": self.campaign,
			"status": self.status,
			"qr_code_png": self.qr_code_png,
			"qr_code_svg": self.qr_code_svg,
		}


def site_short_url(code: str) -> str:
	"""The public short URL of a code on this site (or on the configured short-link domain)."""
	settings = get_settings()
	return links.short_url(settings.short_link_domain or get_url(), settings.redirect_prefix or "r", code)
