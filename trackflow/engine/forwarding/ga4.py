"""GA4 Measurement Protocol payloads: one request per client id, up to 25 events each."""

import json
from datetime import timedelta
from urllib.parse import urlencode

from trackflow.engine.errors import ValidationError
from trackflow.engine.forwarding import hashing
from trackflow.engine.forwarding.types import GA4, Destination, ForwardedConversion

MAX_EVENTS_PER_REQUEST = 25
# GA4 accepts events backdated by up to 72 hours.
MAX_AGE = timedelta(hours=72)


def _micros(conversion: ForwardedConversion) -> int:
	at = conversion.occurred_at
	return int(at.timestamp()) * 1_000_000 + at.microsecond


def contact_user_data(conversion: ForwardedConversion) -> dict:
	"""`user_data` with the hashed email (gmail dots removed) and E.164 phone, as arrays per the docs."""
	email = hashing.normalise_email_google(conversion.email)
	phone = hashing.normalise_phone_e164(conversion.phone, conversion.phone_country_code)
	data = {}
	if email:
		data["sha256_email_address"] = [hashing.sha256_hex(email)]
	if phone:
		data["sha256_phone_number"] = [hashing.sha256_hex(phone)]
	return data


def client_id(conversion: ForwardedConversion, allow_contact: bool) -> str | None:
	"""GA4 requires a client id: the `_ga` one the embed script captured, else TrackFlow's visitor id;
	for a CRM-only conversion with contact data, a stable pseudonymous id derived from the lead (in the
	`<int>.<int>` shape of a web client id) keeps a lead's stage events on one GA4 user."""
	if conversion.ga_client_id or conversion.visitor_id:
		return conversion.ga_client_id or conversion.visitor_id
	if allow_contact and conversion.lead and contact_user_data(conversion):
		digest = hashing.sha256_hex(f"trackflow-lead:{conversion.lead}")
		return f"{int(digest[:8], 16)}.{int(digest[8:16], 16)}"
	return None


def has_web_identity(conversion: ForwardedConversion) -> bool:
	return bool(conversion.ga_client_id or conversion.visitor_id)


def request_key(conversion: ForwardedConversion, destination: Destination) -> tuple:
	"""Events share a request only when everything at its top level is the same for them."""
	user_data = contact_user_data(conversion) if destination.send_hashed_contact else {}
	return (
		client_id(conversion, destination.send_hashed_contact),
		conversion.user_id or None,
		json.dumps(user_data, sort_keys=True),
		conversion.consent == "granted",
	)


def build_event(conversion: ForwardedConversion, destination: Destination) -> dict:
	"""One entry of `events`: name, its own timestamp, and params with transaction_id = the idempotency
	key (GA4 deduplicates purchases by it), value/currency and the credited touch's campaign/source/medium."""
	if destination.platform != GA4:
		raise ValidationError(f"{destination.name} is not a GA4 destination")
	name = destination.event_name(conversion.conversion_type)
	if not name:
		raise ValidationError(f"{destination.name} does not send {conversion.conversion_type} conversions")
	params: dict = {"transaction_id": conversion.event_id}
	if conversion.value is not None and conversion.currency:
		params["value"] = float(conversion.value)
		params["currency"] = conversion.currency.upper()
	for key in ("campaign", "source", "medium"):
		if getattr(conversion, key):
			params[key] = getattr(conversion, key)
	return {"name": name, "timestamp_micros": _micros(conversion), "params": params}


def build_body(conversions: list[ForwardedConversion], destination: Destination) -> dict:
	"""The JSON body for conversions of one request key (see request_key); the request's own
	timestamp_micros is the earliest event's, each event carries its own as well."""
	if not conversions:
		raise ValidationError("A GA4 request needs at least one event")
	if len(conversions) > MAX_EVENTS_PER_REQUEST:
		raise ValidationError(
			f"GA4 accepts at most {MAX_EVENTS_PER_REQUEST} events per request, not {len(conversions)}"
		)
	keys = {request_key(c, destination) for c in conversions}
	if len(keys) != 1:
		raise ValidationError("GA4 events of one request must share client id, user id and user data")
	first = conversions[0]
	cid = client_id(first, destination.send_hashed_contact)
	if not cid:
		raise ValidationError(f"Conversion {first.id} has no GA4 client id")
	body: dict = {"client_id": cid}
	if first.user_id:
		body["user_id"] = first.user_id
	body["timestamp_micros"] = min(_micros(c) for c in conversions)
	if destination.send_hashed_contact and (user_data := contact_user_data(first)):
		body["user_data"] = user_data
	if first.consent == "granted":
		body["consent"] = {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"}
	body["events"] = [build_event(c, destination) for c in conversions]
	return body


def build_request(
	base_url: str, measurement_id: str, api_secret: str, body: dict, validate: bool = False
) -> tuple[str, dict]:
	"""URL (with the API secret in its query string, as GA4 requires: redact it everywhere) and body."""
	path = "/debug/mp/collect" if validate else "/mp/collect"
	query = urlencode({"measurement_id": measurement_id, "api_secret": api_secret})
	return f"{base_url.rstrip('/')}{path}?{query}", body


def validation_messages(payload: object) -> list[str]:
	"""`validationMessages` of /debug/mp/collect as readable lines: "fieldPath: description (code)"."""
	if not isinstance(payload, dict):
		return []
	lines = []
	for message in payload.get("validationMessages") or []:
		if not isinstance(message, dict):
			continue
		field_path = message.get("fieldPath")
		text = message.get("description") or "invalid"
		code = message.get("validationCode")
		lines.append(f"{field_path + ': ' if field_path else ''}{text}{f' ({code})' if code else ''}")
	return lines
