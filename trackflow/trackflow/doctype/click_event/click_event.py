# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class ClickEvent(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		bot_reason: DF.Data | None
		browser: DF.Data | None
		campaign: DF.Link | None
		clicked_at: DF.Datetime | None
		device: DF.Data | None
		ip_prefix: DF.Data | None
		is_bot: DF.Check
		is_qr_scan: DF.Check
		os: DF.Data | None
		outcome: DF.Literal["destination", "fallback"]
		redirected_to: DF.SmallText | None
		referrer: DF.SmallText | None
		tracked_link: DF.Link | None
		user_agent: DF.SmallText | None
		variant: DF.Data | None
		visitor_id: DF.Data | None
	# end: auto-generated types

	pass
