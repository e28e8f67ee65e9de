# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from trackflow.engine.errors import ValidationError
from trackflow.engine.forwarding.types import DEFAULT_META_API_VERSION, Destination, validate_destination


class ConversionDestination(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from trackflow.trackflow.doctype.conversion_destination_event.conversion_destination_event import (
			ConversionDestinationEvent,
		)

		api_base_url: DF.Data | None
		conversion_types: DF.Table[ConversionDestinationEvent]
		destination_name: DF.Data
		enabled: DF.Check
		ga4_api_secret: DF.Password | None
		ga4_measurement_id: DF.Data | None
		ga4_validation_mode: DF.Check
		meta_access_token: DF.Password | None
		meta_api_version: DF.Data | None
		meta_dataset_id: DF.Data | None
		meta_test_event_code: DF.Data | None
		platform: DF.Literal["Meta Conversions API", "GA4 Measurement Protocol"]
		send_hashed_contact_data: DF.Check
	# end: auto-generated types

	def validate(self):
		self.api_base_url = (self.api_base_url or "").strip().rstrip("/") or None
		self.meta_api_version = (self.meta_api_version or "").strip() or DEFAULT_META_API_VERSION
		self.forget_secrets_for_a_new_host()
		try:
			validate_destination(
				{
					"platform": self.platform,
					"api_base_url": self.api_base_url,
					"meta_dataset_id": self.meta_dataset_id,
					"meta_access_token": self.meta_access_token,
					"meta_api_version": self.meta_api_version,
					"ga4_measurement_id": self.ga4_measurement_id,
					"ga4_api_secret": self.ga4_api_secret,
					"event_names": [(row.conversion_type, row.event_name) for row in self.conversion_types],
				},
				allow_any_base_url=allow_custom_base_url(),
			)
		except ValidationError as exc:
			frappe.throw(_(str(exc)), title=_("Conversion Destination"))

	def forget_secrets_for_a_new_host(self):
		"""A changed API base URL drops the stored token and secret: whoever may edit the URL (and cannot
		read the Password fields) must not be able to send them to a host of their choosing. New values
		typed in the same save are kept; validation then asks for any that are missing."""
		before = self.get_doc_before_save()
		if self.is_new() or not before or (before.api_base_url or None) == self.api_base_url:
			return
		for field in ("meta_access_token", "ga4_api_secret"):
			if set(self.get(field) or "") == {"*"}:  # Frappe's mask: the stored value, not a new one
				self.set(field, None)

	def engine_destination(self, max_attempts: int = 8) -> Destination:
		"""The engine's Destination with decrypted credentials: call only where the request is sent."""
		return Destination(
			name=self.name,
			platform=self.platform,
			enabled=bool(self.enabled),
			base_url=self.api_base_url or None,
			meta_dataset_id=self.meta_dataset_id,
			meta_access_token=self.get_password("meta_access_token", raise_exception=False),
			meta_api_version=self.meta_api_version or DEFAULT_META_API_VERSION,
			meta_test_event_code=self.meta_test_event_code or None,
			ga4_measurement_id=self.ga4_measurement_id,
			ga4_api_secret=self.get_password("ga4_api_secret", raise_exception=False),
			ga4_validation_mode=bool(self.ga4_validation_mode),
			event_names={row.conversion_type: row.event_name or "" for row in self.conversion_types},
			send_hashed_contact=bool(self.send_hashed_contact_data),
			max_attempts=max_attempts,
		)


def allow_custom_base_url() -> bool:
	"""A base URL off the platform's hosts (a local stand-in) only in developer mode or when the site config
	says so: never something a user of the desk can turn on."""
	return bool(frappe.conf.developer_mode or frappe.conf.get("trackflow_allow_custom_api_base_url"))
