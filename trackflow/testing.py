"""Base class for TrackFlow's Frappe tests on Frappe 15 and 16 (run with `bench run-tests --app trackflow`)."""

import frappe

try:  # Frappe 16
	from frappe.tests import IntegrationTestCase as _FrappeTestCase
except ImportError:  # Frappe 15
	from frappe.tests.utils import FrappeTestCase as _FrappeTestCase


class TrackFlowTestCase(_FrappeTestCase):
	"""Frappe's test case; every test and test class ends as Administrator, whichever role it tested as."""

	def tearDown(self):
		frappe.set_user("Administrator")
		super().tearDown()

	@classmethod
	def tearDownClass(cls):
		frappe.set_user("Administrator")
		super().tearDownClass()


__all__ = ["TrackFlowTestCase", "epoch_seconds", "fake_request"]


def epoch_seconds(when) -> float:
	"""A naive datetime in the site's time zone (what now_datetime() returns) as epoch seconds, the unit of
	the queue's records; datetime.timestamp() alone would read it in the OS's time zone."""
	from zoneinfo import ZoneInfo

	from frappe.utils import get_system_timezone

	return when.replace(tzinfo=ZoneInfo(get_system_timezone())).timestamp()


def fake_request(
	method: str, path: str, body: bytes = b"", headers: dict | None = None, ip: str = "203.0.113.77"
):
	"""Make `path` the current request (frappe.request), as Frappe's app would before the hooks run, so a
	test can call a hook or an endpoint function in-process on the test site."""
	import frappe
	from werkzeug.test import EnvironBuilder
	from werkzeug.wrappers import Request

	path, _, query = path.partition("?")
	builder = EnvironBuilder(
		path=path,
		query_string=query,
		method=method,
		data=body,
		headers=headers or {},
		content_type="text/plain",
	)
	frappe.local.request = Request(builder.get_environ())
	frappe.local.request_ip = ip
	return frappe.local.request
