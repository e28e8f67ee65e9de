# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class TrackFlowSession(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		channel: DF.Literal[
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
		campaign: DF.Link | None
		click_event: DF.Link | None
		click_ids: DF.SmallText | None
		ended_at: DF.Datetime | None
		landing_url: DF.SmallText | None
		page_views: DF.Int
		referrer: DF.SmallText | None
		site: DF.Link | None
		started_at: DF.Datetime | None
		utm_campaign: DF.Data | None
		utm_content: DF.Data | None
		utm_medium: DF.Data | None
		utm_source: DF.Data | None
		utm_term: DF.Data | None
		visitor: DF.Link | None
	# end: auto-generated types

	pass
