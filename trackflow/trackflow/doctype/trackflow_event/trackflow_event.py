# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class TrackFlowEvent(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		event_name: DF.Data | None
		event_type: DF.Literal[
			"", "session_start", "pageview", "event", "conversion", "identify", "form", "consent", "ping"
		]
		occurred_at: DF.Datetime | None
		properties: DF.JSON | None
		session: DF.Link | None
		site: DF.Link | None
		title: DF.Data | None
		url: DF.SmallText | None
		visitor: DF.Link | None
	# end: auto-generated types

	pass
