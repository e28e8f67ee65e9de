# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import frappe
from frappe.model.document import Document


class ConversionDelivery(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attempts: DF.Int
		conversion: DF.Link
		destination: DF.Link
		event_name: DF.Data | None
		http_status: DF.Int
		next_attempt_at: DF.Datetime | None
		response_excerpt: DF.SmallText | None
		sent_at: DF.Datetime | None
		status: DF.Literal["queued", "sent", "failed", "retrying", "skipped_consent", "too_old", "disabled"]
	# end: auto-generated types

	pass


def on_doctype_update():
	# One delivery per conversion and destination: a second enqueue of the same pair cannot insert a row.
	frappe.db.add_unique(
		"Conversion Delivery", ["conversion", "destination"], constraint_name="conversion_destination"
	)
