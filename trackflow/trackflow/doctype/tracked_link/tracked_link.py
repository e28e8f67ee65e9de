# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class TrackedLink(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from trackflow.trackflow.doctype.tracked_link_variant.tracked_link_variant import TrackedLinkVariant

		bot_clicks: DF.Int
		campaign: DF.Link | None
		destination_url: DF.Data
		expires_at: DF.Datetime | None
		fallback_url: DF.Data | None
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

	pass
