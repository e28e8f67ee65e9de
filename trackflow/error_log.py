"""TrackFlow's entries in Frappe's Error Log: what failed and where, never the data it failed on.

Frappe's `log_error` without a message writes the traceback *with the frames' local variables*, which for
TrackFlow would be a visitor's email, a collect payload or a destination's decrypted token. Every TrackFlow
failure is logged through `log_failure`: the exception and a plain traceback, scrubbed of emails and long
numbers.
"""

from collections.abc import Iterable

import frappe

from trackflow.engine.forwarding.sender import redact
from trackflow.engine.privacy import scrub_text


def log_failure(
	title: str,
	error: BaseException,
	reference_doctype: str | None = None,
	reference_name=None,
	secrets: Iterable[str] = (),
):
	"""Log the exception being handled under `title` (it must start with "TrackFlow"); `secrets` (and any
	access_token / api_secret value) are replaced wherever they appear."""
	message = f"{type(error).__name__}: {error}\n\n{frappe.get_traceback(with_context=False)}"
	return frappe.log_error(title, redact(scrub_text(message), secrets), reference_doctype, reference_name)
