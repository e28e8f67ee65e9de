"""TrackFlow's whitelisted methods, one module per domain; this package itself answers with their OpenAPI
description (`/api/method/trackflow.api.docs`)."""

import frappe
from werkzeug.wrappers import Response

from trackflow.engine import openapi


@frappe.whitelist(methods=["GET"])
def docs() -> Response:
	"""The OpenAPI 3.1 description of every TrackFlow method (generated from the code): the document itself,
	as `application/json` with no {"message": ...} envelope, so that tools can load it from this URL."""
	frappe.only_for("All")  # any logged-in user; Guest is refused by Frappe before this line
	return Response(
		openapi.app_spec_json(),
		status=200,
		mimetype="application/json",
		headers={"Cache-Control": "private, max-age=300"},
	)
