"""Base class for TrackFlow's Frappe tests on Frappe 15 and 16 (run with `bench run-tests --app trackflow`)."""

try:  # Frappe 16
	from frappe.tests import IntegrationTestCase as TrackFlowTestCase
except ImportError:  # Frappe 15
	from frappe.tests.utils import FrappeTestCase as TrackFlowTestCase

__all__ = ["TrackFlowTestCase"]
