"""Meta Conversions API payloads: one event per conversion, up to 1,000 events per request."""

from datetime import timedelta
from urllib.parse import quote

from trackflow.engine.errors import ValidationError
from trackflow.engine.forwarding import hashing
from trackflow.engine.forwarding.types import META, Destination, ForwardedConversion

MAX_EVENTS_PER_REQUEST = 1000
# Meta rejects events whose event_time is more than 7 days before the request.
MAX_AGE = timedelta(days=7)
CRM_EVENT_SOURCE = "crm"
CRM_LEAD_EVENT_SOURCE = "Frappe CRM"


def fbc(fbclid: str | None, captured_at_ms: int | None) -> str | None:
	"""The `fbc` value Meta's pixel would have stored: fb.<subdomain index>.<creation ms>.<fbclid>, with the
	fbclid untouched (it is case sensitive) and subdomain index 1, as Meta documents for server use."""
	if not fbclid or captured_at_ms is None:
		return None
	return f"fb.1.{int(captured_at_ms)}.{fbclid}"


def contact_user_data(conversion: ForwardedConversion) -> dict:
	"""The hashed contact fields Meta matches on: em, ph, fn, ln, external_id (the lead's name)."""
	values = {
		"em": hashing.normalise_email_meta(conversion.email),
		"ph": hashing.normalise_phone_digits(conversion.phone, conversion.phone_country_code),
		"fn": hashing.normalise_name(conversion.first_name),
		"ln": hashing.normalise_name(conversion.last_name),
		"external_id": hashing.normalise_external_id(conversion.lead),
	}
	return {key: hashing.sha256_hex(value) for key, value in values.items() if value}


def web_user_data(conversion: ForwardedConversion) -> dict:
	"""What the browser left: truncated IP and user agent (plain, as Meta requires), fbc and fbp."""
	data = {
		"client_ip_address": conversion.client_ip,
		"client_user_agent": conversion.user_agent,
		"fbc": fbc(conversion.fbclid, conversion.fbclid_at_ms or _ms(conversion)),
		"fbp": conversion.fbp,
	}
	return {key: value for key, value in data.items() if value}


def _ms(conversion: ForwardedConversion) -> int | None:
	# An fbclid captured without its time: the conversion's time is the latest it can have been seen.
	return int(conversion.occurred_at.timestamp() * 1000) if conversion.fbclid else None


def has_web_identity(conversion: ForwardedConversion) -> bool:
	"""Meta can match without contact data: a click id, a browser id, or IP together with user agent."""
	return bool(conversion.fbclid or conversion.fbp or (conversion.client_ip and conversion.user_agent))


def has_contact_identity(conversion: ForwardedConversion) -> bool:
	"""Contact data Meta can match on by itself (a name alone is not enough)."""
	data = contact_user_data(conversion)
	return bool(data.keys() & {"em", "ph", "external_id"})


def build_event(conversion: ForwardedConversion, destination: Destination) -> dict:
	"""One server event. `event_id` is the conversion's idempotency key, so Meta drops a resend and the
	browser pixel's event of the same id. Contact data only when the destination sends it."""
	if destination.platform != META:
		raise ValidationError(f"{destination.name} is not a Meta destination")
	event_name = destination.event_name(conversion.conversion_type)
	if not event_name:
		raise ValidationError(f"{destination.name} does not send {conversion.conversion_type} conversions")
	user_data = web_user_data(conversion)
	if destination.send_hashed_contact:
		user_data = {**contact_user_data(conversion), **user_data}
	event = {
		"event_name": event_name,
		"event_time": int(conversion.occurred_at.timestamp()),
		"event_id": conversion.event_id,
		"action_source": "website" if conversion.web_seen else "system_generated",
		"user_data": user_data,
	}
	if conversion.web_seen and conversion.page_url:
		event["event_source_url"] = conversion.page_url
	custom_data = {}
	if not conversion.web_seen:
		custom_data = {"event_source": CRM_EVENT_SOURCE, "lead_event_source": CRM_LEAD_EVENT_SOURCE}
	if conversion.value is not None and conversion.currency:
		custom_data["value"] = float(conversion.value)
		custom_data["currency"] = conversion.currency.upper()
	if custom_data:
		event["custom_data"] = custom_data
	return event


def build_request(
	base_url: str, version: str, dataset_id: str, events: list[dict], test_event_code: str | None = None
) -> tuple[str, dict]:
	"""URL and JSON body of one request. The access token is not here: the sender adds it to the body
	(not the URL, which proxies log)."""
	if not events:
		raise ValidationError("A Meta request needs at least one event")
	if len(events) > MAX_EVENTS_PER_REQUEST:
		raise ValidationError(
			f"Meta accepts at most {MAX_EVENTS_PER_REQUEST} events per request, not {len(events)}"
		)
	url = f"{base_url.rstrip('/')}/{quote(version, safe='.')}/{quote(str(dataset_id), safe='')}/events"
	body: dict = {"data": events}
	if test_event_code:
		body["test_event_code"] = test_event_code
	return url, body


def describe_response(payload: object) -> str:
	"""The parts of Meta's answer worth keeping: events received, messages, fbtrace id, or the error."""
	if not isinstance(payload, dict):
		return ""
	error = payload.get("error")
	if isinstance(error, dict):
		parts = [str(error.get("error_user_msg") or error.get("message") or "error")]
		details = [f"{key} {error[key]}" for key in ("code", "error_subcode", "fbtrace_id") if error.get(key)]
		if details:
			parts.append(f"({', '.join(details)})")
		return " ".join(parts)
	parts = []
	if "events_received" in payload:
		parts.append(f"events_received {payload['events_received']}")
	if payload.get("messages"):
		parts.append(f"messages {payload['messages']}")
	if payload.get("fbtrace_id"):
		parts.append(f"fbtrace_id {payload['fbtrace_id']}")
	return "; ".join(parts)
