# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

from frappe.model.document import Document


class TrackFlowDealStatus(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		deal_status: DF.Link
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
	# end: auto-generated types

	pass
