# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class LinkClickDay(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		bot_clicks: DF.Int
		campaign: DF.Link | None
		clicks: DF.Int
		day: DF.Date | None
		is_delta: DF.Check
		tracked_link: DF.Link | None
		variant: DF.Data | None
		visitor_set: DF.LongText | None
		visitors: DF.Int
	# end: auto-generated types

	pass
