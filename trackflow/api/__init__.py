"""TrackFlow's whitelisted methods, one module per domain; this package itself answers with their OpenAPI
description (`/api/method/trackflow.api.docs`)."""

import frappe
from werkzeug.wrappers import Response

from trackflow.engine import openapi
from trackflow.permissions import require_roles


@frappe.whitelist(methods=["GET"])
def docs() -> Response:
	"""The OpenAPI 3.1 description of every TrackFlow method (generated from the code): the document itself,
	as `application/json` with no {"message": ...} envelope, so that tools can load it from this URL."""
	require_roles("All")  # any logged-in user (Frappe refuses Guest before this line too)
	return Response(
		openapi.app_spec_json(),
		status=200,
		mimetype="application/json",
		headers={"Cache-Control": "private, max-age=300"},
	)
