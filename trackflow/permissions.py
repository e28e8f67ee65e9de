"""Who may use TrackFlow: role names and the app-screen permission check."""

import frappe

TRACKFLOW_MANAGER = "TrackFlow Manager"
CAMPAIGN_MANAGER = "Campaign Manager"
# CRM's sales roles read TrackFlow's journeys and reports about the leads and deals they can see.
APP_ROLES = frozenset({TRACKFLOW_MANAGER, CAMPAIGN_MANAGER, "Sales Manager", "Sales User", "System Manager"})


def has_app_permission() -> bool:
	"""The `add_to_apps_screen` check: show the TrackFlow tile to users with any TrackFlow or sales role."""
	if frappe.session.user == "Administrator":
		return True
	return not APP_ROLES.isdisjoint(frappe.get_roles())
