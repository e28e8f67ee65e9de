"""Whitelisted methods for conversion forwarding to the ad platforms."""

import frappe

from trackflow.forwarding import send_test_conversion
from trackflow.permissions import TRACKFLOW_MANAGER, require_roles


@frappe.whitelist(methods=["POST"])
def send_test_event(destination: str) -> dict:
	"""Send one test event to a Conversion Destination (Meta: with its test event code; GA4: to the
	validation endpoint when validation mode is on) and return the platform's answer, never a secret."""
	require_roles(TRACKFLOW_MANAGER)
	frappe.has_permission("Conversion Destination", "read", destination, throw=True)
	return send_test_conversion(destination)
