# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint, flt

from trackflow.engine.errors import ValidationError
from trackflow.engine.settings import INT_BOUNDS, SCORE_WEIGHT_FIELDS, validate_settings
from trackflow.links import clear_link_cache, clear_settings_cache


class TrackFlowSettings(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from trackflow.trackflow.doctype.trackflow_deal_status.trackflow_deal_status import (
			TrackFlowDealStatus,
		)
		from trackflow.trackflow.doctype.trackflow_lead_status.trackflow_lead_status import (
			TrackFlowLeadStatus,
		)

		attribution_lookback_days: DF.Int
		click_retention_days: DF.Int
		consent_mode: DF.Literal["none", "opt-in", "opt-out"]
		cookie_lifetime_days: DF.Int
		data_sufficiency_min_journeys: DF.Int
		default_attribution_model: DF.Link
		direct_click_writes: DF.Int
		enabled: DF.Check
		engagement_weight: DF.Percent
		event_retention_days: DF.Int
		fill_crm_lead_source: DF.Check
		fit_weight: DF.Percent
		forwarding_max_attempts: DF.Int
		honour_do_not_track: DF.Check
		hot_threshold: DF.Int
		intent_weight: DF.Percent
		ipv4_prefix_length: DF.Int
		ipv6_prefix_length: DF.Int
		lead_form_touches: DF.Check
		lost_deal_statuses: DF.TableMultiSelect[TrackFlowDealStatus]
		own_domains: DF.SmallText | None
		qualified_lead_statuses: DF.TableMultiSelect[TrackFlowLeadStatus]
		redirect_prefix: DF.Data
		score_half_life_days: DF.Int
		session_retention_days: DF.Int
		session_timeout_minutes: DF.Int
		short_code_length: DF.Int
		short_link_domain: DF.Data | None
		touchpoint_retention_days: DF.Int
		truncate_ip: DF.Check
		utm_merge_mode: DF.Literal["", "keep", "override"]
		warm_threshold: DF.Int
		won_deal_statuses: DF.TableMultiSelect[TrackFlowDealStatus]
	# end: auto-generated types

	def validate(self):
		self.redirect_prefix = (self.redirect_prefix or "").strip().strip("/").lower()
		values = {fieldname: cint(self.get(fieldname)) for fieldname in INT_BOUNDS}
		values.update(
			consent_mode=self.consent_mode,
			utm_merge_mode=self.utm_merge_mode,
			redirect_prefix=self.redirect_prefix,
			won_deal_statuses=[row.deal_status for row in self.won_deal_statuses],
			lost_deal_statuses=[row.deal_status for row in self.lost_deal_statuses],
		)
		# lead score weights: each >= 0, together 100 (a blank one is its default)
		# (a Single's value may come back as text, e.g. "35" written by migrate's defaults: read as a number)
		values.update(
			{
				fieldname: None if self.get(fieldname) in (None, "") else flt(self.get(fieldname))
				for fieldname in SCORE_WEIGHT_FIELDS
			}
		)
		try:
			validate_settings(values)
		except ValidationError as e:
			frappe.throw(str(e), title=_("Invalid TrackFlow Settings"))

	def on_update(self):
		clear_settings_cache()
		if any(self.has_value_changed(f) for f in SCORE_WEIGHT_FIELDS):
			frappe.msgprint(
				_("New score weights apply to every lead at the next daily scoring run."),
				alert=True,
			)
		if self.has_value_changed("utm_merge_mode"):
			clear_link_cache()  # cached links merged their UTM with the old mode
