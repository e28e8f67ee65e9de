"""The engine's one error type: bad input a user can fix."""


class ValidationError(ValueError):
	"""Input rejected with a message a user can act on (the Frappe layer turns it into frappe.throw)."""
