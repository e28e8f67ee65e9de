# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class TrackFlowVisitor(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		consent: DF.Literal["", "unknown", "granted", "denied"]
		crm_lead: DF.Link | None
		email: DF.Data | None
		first_seen: DF.Datetime | None
		first_touch_channel: DF.Literal[
			"",
			"email",
			"paid_search",
			"organic_search",
			"paid_social",
			"organic_social",
			"display",
			"affiliate",
			"video",
			"sms",
			"qr",
			"referral",
			"offline",
			"direct",
			"other",
		]
		last_seen: DF.Datetime | None
		session_count: DF.Int
		site: DF.Link | None
	# end: auto-generated types

	pass
