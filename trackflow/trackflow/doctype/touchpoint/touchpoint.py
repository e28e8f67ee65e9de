# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class Touchpoint(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		campaign_name: DF.Data | None
		channel: DF.Literal[
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
		click_event: DF.Link | None
		click_ids: DF.SmallText | None
		content: DF.Data | None
		crm_deal: DF.Link | None
		crm_lead: DF.Link | None
		link_campaign: DF.Link | None
		medium: DF.Data | None
		notes: DF.SmallText | None
		occurred_at: DF.Datetime
		referrer: DF.SmallText | None
		session: DF.Link | None
		source: DF.Data | None
		term: DF.Data | None
		touch_type: DF.Literal["", "session", "click", "offline", "import", "lead_form"]
		tracked_link: DF.Link | None
		visitor: DF.Link | None
	# end: auto-generated types

	pass
