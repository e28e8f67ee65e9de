# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import frappe

from trackflow.install import ensure_settings_defaults
from trackflow.permissions import CAMPAIGN_MANAGER, TRACKFLOW_MANAGER, has_app_permission
from trackflow.testing import TrackFlowTestCase


def make_user(email: str, roles: list[str]) -> str:
	if not frappe.db.exists("User", email):
		user = frappe.get_doc({"doctype": "User", "email": email, "first_name": email.split("@")[0]})
		user.insert(ignore_permissions=True)
	user = frappe.get_doc("User", email)
	user.flags.ignore_permissions = True
	user.set("roles", [])
	user.add_roles(*roles)
	return email


class TestTrackFlowSettings(TrackFlowTestCase):
	def test_defaults_are_filled_on_install(self):
		settings = frappe.get_single("TrackFlow Settings")
		self.assertEqual(settings.attribution_lookback_days, 90)
		self.assertEqual(settings.session_timeout_minutes, 30)
		self.assertEqual(settings.cookie_lifetime_days, 395)
		self.assertEqual(settings.short_code_length, 7)
		self.assertEqual(settings.redirect_prefix, "r")
		self.assertEqual(settings.consent_mode, "opt-out")
		self.assertTrue(settings.truncate_ip)

	def test_status_mapping_follows_crm(self):
		settings = frappe.get_single("TrackFlow Settings")
		won = {row.deal_status for row in settings.won_deal_statuses}
		lost = {row.deal_status for row in settings.lost_deal_statuses}
		if frappe.get_meta("CRM Deal Status").has_field("type"):
			expected_won = set(frappe.get_all("CRM Deal Status", filters={"type": "Won"}, pluck="name"))
			expected_lost = set(frappe.get_all("CRM Deal Status", filters={"type": "Lost"}, pluck="name"))
		else:
			expected_won, expected_lost = {"Won"}, {"Lost"}
		self.assertEqual(won, expected_won)
		self.assertEqual(lost, expected_lost)

	def test_defaults_step_is_idempotent(self):
		ensure_settings_defaults()
		before = frappe.get_single("TrackFlow Settings").as_dict()
		ensure_settings_defaults()
		after = frappe.get_single("TrackFlow Settings").as_dict()
		self.assertEqual(after.modified, before.modified)
		self.assertEqual(after, before)

	def test_out_of_range_values_are_rejected(self):
		for fieldname, value in (
			("cookie_lifetime_days", 500),
			("attribution_lookback_days", 0),
			("short_code_length", 3),
			("ipv4_prefix_length", 40),
		):
			settings = frappe.get_single("TrackFlow Settings")
			settings.set(fieldname, value)
			with self.assertRaises(frappe.ValidationError, msg=fieldname):
				settings.save()

	def test_status_cannot_be_won_and_lost(self):
		settings = frappe.get_single("TrackFlow Settings")
		status = settings.won_deal_statuses[0].deal_status
		settings.append("lost_deal_statuses", {"deal_status": status})
		with self.assertRaises(frappe.ValidationError):
			settings.save()


class TestTrackFlowRoles(TrackFlowTestCase):
	def test_roles_exist(self):
		for role in (TRACKFLOW_MANAGER, CAMPAIGN_MANAGER):
			self.assertTrue(frappe.db.exists("Role", role))

	def test_settings_permissions(self):
		manager = make_user("tf-manager@example.com", [TRACKFLOW_MANAGER])
		campaigner = make_user("tf-campaigns@example.com", [CAMPAIGN_MANAGER])
		seller = make_user("tf-seller@example.com", ["Sales User"])
		self.assertTrue(frappe.has_permission("TrackFlow Settings", "write", user=manager))
		self.assertTrue(frappe.has_permission("TrackFlow Settings", "read", user=campaigner))
		self.assertFalse(frappe.has_permission("TrackFlow Settings", "write", user=campaigner))
		self.assertFalse(frappe.has_permission("TrackFlow Settings", "read", user=seller))

	def test_app_tile_permission(self):
		campaigner = make_user("tf-campaigns@example.com", [CAMPAIGN_MANAGER])
		outsider = make_user("tf-outsider@example.com", ["Blogger"])
		try:
			frappe.set_user(campaigner)
			self.assertTrue(has_app_permission())
			frappe.set_user(outsider)
			self.assertFalse(has_app_permission())
		finally:
			frappe.set_user("Administrator")


class TestSettingsUpgrade(TrackFlowTestCase):
	def test_weights_read_back_as_text_still_validate(self):
		"""migrate fills a site's missing settings with the doctype's defaults, which a Single may hand back
		as text ("35"): saving the settings must still work (it stopped a real upgrade once)."""
		settings = frappe.get_single("TrackFlow Settings")
		settings.fit_weight, settings.engagement_weight, settings.intent_weight = "35", "40", "25"
		settings.validate()
		settings.fit_weight = "90"
		with self.assertRaises(frappe.ValidationError):
			settings.validate()
