"""TrackFlow Settings, read in one place. The doctype owns every default (install and migrate fill any
field a site lacks: `install.ensure_settings_defaults`), so readers take the values as they are."""

import frappe


def get_settings():
	"""The settings document, from Frappe's cache (cleared by Frappe when the settings are saved)."""
	return frappe.get_cached_doc("TrackFlow Settings")
