"""Meta and GA4 payloads against the platforms' documented shapes, with independently computed hashes."""

import hashlib
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from trackflow.engine.errors import ValidationError
from trackflow.engine.forwarding import ga4, hashing, meta
from trackflow.engine.forwarding.types import (
	GA4,
	META,
	Destination,
	ForwardedConversion,
	validate_destination,
)

WON_AT = datetime(2026, 11, 20, 14, 30, 5, 250000, tzinfo=timezone.utc)


def sha(text: str) -> str:
	return hashlib.sha256(text.encode("utf-8")).hexdigest()


def conversion(**overrides) -> ForwardedConversion:
	values = dict(
		id="CONV-1",
		event_id="deal_won:CRM-DEAL-0001",
		conversion_type="deal_won",
		occurred_at=WON_AT,
		value=Decimal("1234.50"),
		currency="eur",
		lead="CRM-LEAD-0001",
		email="  John.Smith@GMail.com ",
		phone="+49 (0)30 1234-5678",
		first_name=" Zoë-Anne ",
		last_name="O'Brien",
		campaign="spring-sale",
		source="facebook",
		medium="cpc",
	)
	values.update(overrides)
	return ForwardedConversion(**values)


META_DEST = Destination("meta", META, meta_dataset_id="123456789012345", meta_access_token="EAAsecret-token")
GA4_DEST = Destination("ga4", GA4, ga4_measurement_id="G-ABC123XYZ", ga4_api_secret="ga4-secret-value")


def test_meta_email_is_trimmed_and_lowercased_only():
	assert hashing.normalise_email_meta("  John.Smith@GMail.com ") == "john.smith@gmail.com"
	# Meta's own documented example
	assert hashing.sha256_hex("john_smith@gmail.com") == (
		"62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
	)


def test_google_email_drops_dots_before_gmail_domains_only():
	assert hashing.normalise_email_google("  John.Smith@GMail.com ") == "johnsmith@gmail.com"
	assert hashing.normalise_email_google("j.s@googlemail.com") == "js@googlemail.com"
	assert hashing.normalise_email_google("j.s@example.com") == "j.s@example.com"
	assert hashing.normalise_email_google("not an email") is None


@pytest.mark.parametrize(
	"raw, default_code, digits",
	[
		("+49 (0)30 1234-5678", None, "4930123456 78".replace(" ", "")),
		("0049 30 12345678", None, "493012345678"),
		("030 12345678", "49", "493012345678"),
		("(650) 555-1212", "+1", "16505551212"),
		("16505551212", None, "16505551212"),
		("12", None, None),
		("", None, None),
	],
)
def test_phone_digits_and_e164(raw, default_code, digits):
	assert hashing.normalise_phone_digits(raw, default_code) == digits
	assert hashing.normalise_phone_e164(raw, default_code) == (f"+{digits}" if digits else None)


def test_names_lose_punctuation_keep_letters_as_utf8():
	assert hashing.normalise_name(" Zoë-Anne ") == "zoëanne"
	assert hashing.normalise_name("O'Brien") == "obrien"
	assert hashing.normalise_name("  Mary   Ann ") == "mary ann"
	assert hashing.normalise_name("...") is None
	assert hashing.sha256_hex("zoëanne") == sha("zoëanne")


def test_meta_event_known_answer_for_a_crm_deal_won():
	event = meta.build_event(conversion(), META_DEST)
	assert event == {
		"event_name": "Purchase",
		"event_time": 1795185005,
		"event_id": "deal_won:CRM-DEAL-0001",
		"action_source": "system_generated",
		"user_data": {
			"em": sha("john.smith@gmail.com"),
			"ph": sha("493012345678"),
			"fn": sha("zoëanne"),
			"ln": sha("obrien"),
			"external_id": sha("CRM-LEAD-0001"),
		},
		"custom_data": {
			"event_source": "crm",
			"lead_event_source": "Frappe CRM",
			"value": 1234.5,
			"currency": "EUR",
		},
	}
	assert int(WON_AT.timestamp()) == 1795185005


def test_meta_event_seen_on_the_web_carries_browser_identity_in_clear():
	event = meta.build_event(
		conversion(
			conversion_type="form_submit",
			value=None,
			web_seen=True,
			client_ip="203.0.113.0",
			user_agent="Mozilla/5.0 Test",
			fbclid="IwAR2F4-dbP0l7Mn1Iaw",
			fbclid_at_ms=1795000000123,
			fbp="fb.1.1795000000000.987654321",
			page_url="https://example.com/contact",
		),
		META_DEST,
	)
	assert event["action_source"] == "website"
	assert event["event_name"] == "Lead"
	assert event["event_source_url"] == "https://example.com/contact"
	assert "custom_data" not in event
	user = event["user_data"]
	assert user["client_ip_address"] == "203.0.113.0"
	assert user["client_user_agent"] == "Mozilla/5.0 Test"
	assert user["fbc"] == "fb.1.1795000000123.IwAR2F4-dbP0l7Mn1Iaw"  # case kept
	assert user["fbp"] == "fb.1.1795000000000.987654321"


def test_meta_without_hashed_contact_sends_only_web_identity():
	dest = Destination(
		"meta", META, meta_dataset_id="1234567", meta_access_token="t", send_hashed_contact=False
	)
	event = meta.build_event(conversion(fbp="fb.1.1.2"), dest)
	assert event["user_data"] == {"fbp": "fb.1.1.2"}


def test_meta_request_shape_and_limit():
	url, body = meta.build_request("http://x/", "v21.0", "123456789", [{"a": 1}], "TEST123")
	assert url == "http://x/v21.0/123456789/events"
	assert body == {"data": [{"a": 1}], "test_event_code": "TEST123"}
	assert "access_token" not in body
	with pytest.raises(ValidationError):
		meta.build_request("http://x", "v21.0", "1", [{}] * 1001)


def test_ga4_body_known_answer():
	c = conversion(ga_client_id="1234567890.1700000000", user_id="u-42")
	body = ga4.build_body([c], GA4_DEST)
	micros = 1795185005 * 1_000_000 + 250000
	assert body == {
		"client_id": "1234567890.1700000000",
		"user_id": "u-42",
		"timestamp_micros": micros,
		"user_data": {
			"sha256_email_address": [sha("johnsmith@gmail.com")],
			"sha256_phone_number": [sha("+493012345678")],
		},
		"events": [
			{
				"name": "purchase",
				"timestamp_micros": micros,
				"params": {
					"transaction_id": "deal_won:CRM-DEAL-0001",
					"value": 1234.5,
					"currency": "EUR",
					"campaign": "spring-sale",
					"source": "facebook",
					"medium": "cpc",
				},
			}
		],
	}


def test_ga4_default_event_names_per_stage():
	names = [GA4_DEST.event_name(t) for t in ("lead_created", "lead_qualified", "deal_created", "deal_won")]
	assert names == ["generate_lead", "qualify_lead", "close_convert_lead", "purchase"]
	assert META_DEST.event_name("lead_created") == "Lead"
	assert META_DEST.event_name("deal_won") == "Purchase"
	assert META_DEST.event_name("custom") is None


def test_event_mapping_limits_and_renames():
	dest = Destination(
		"g", GA4, ga4_measurement_id="G-ABCD1234", ga4_api_secret="s", event_names={"deal_won": ""}
	)
	assert dest.event_name("deal_won") == "purchase"
	assert dest.event_name("lead_created") is None
	dest = Destination(
		"g", GA4, ga4_measurement_id="G-ABCD1234", ga4_api_secret="s", event_names={"deal_won": "won"}
	)
	assert dest.event_name("deal_won") == "won"


def test_ga4_visitor_id_then_pseudonymous_lead_id_as_client_id():
	assert ga4.client_id(conversion(visitor_id="v-1"), True) == "v-1"
	derived = ga4.client_id(conversion(), True)
	assert derived and derived == ga4.client_id(conversion(id="other"), True)
	left, _, right = derived.partition(".")
	assert left.isdigit() and right.isdigit()
	assert ga4.client_id(conversion(), False) is None


def test_ga4_request_url_and_debug_endpoint():
	url, _ = ga4.build_request("http://h", "G-ABC123XYZ", "s3cret", {}, validate=False)
	assert urlsplit(url).path == "/mp/collect"
	assert parse_qs(urlsplit(url).query) == {"measurement_id": ["G-ABC123XYZ"], "api_secret": ["s3cret"]}
	url, _ = ga4.build_request("http://h/", "G-ABC123XYZ", "s3cret", {}, validate=True)
	assert urlsplit(url).path == "/debug/mp/collect"


def test_ga4_validation_messages_are_readable():
	payload = {
		"validationMessages": [
			{
				"fieldPath": "events",
				"description": "Event at index: [0] has invalid name",
				"validationCode": "NAME_INVALID",
			}
		]
	}
	assert ga4.validation_messages(payload) == ["events: Event at index: [0] has invalid name (NAME_INVALID)"]
	assert ga4.validation_messages({"validationMessages": []}) == []


def test_ga4_body_refuses_mixed_clients_and_more_than_25():
	with pytest.raises(ValidationError):
		ga4.build_body([conversion(visitor_id="a"), conversion(visitor_id="b")], GA4_DEST)
	with pytest.raises(ValidationError):
		ga4.build_body([conversion(visitor_id="a", id=str(i)) for i in range(26)], GA4_DEST)


def test_meta_response_description():
	assert meta.describe_response({"events_received": 3, "messages": [], "fbtrace_id": "X1"}) == (
		"events_received 3; fbtrace_id X1"
	)
	error = {
		"error": {"message": "Invalid parameter", "code": 100, "error_subcode": 2804003, "fbtrace_id": "Z"}
	}
	assert (
		meta.describe_response(error) == "Invalid parameter (code 100, error_subcode 2804003, fbtrace_id Z)"
	)


@pytest.mark.parametrize(
	"values, message",
	[
		({"platform": "Nope"}, "Platform"),
		({"platform": META, "meta_dataset_id": "abc", "meta_access_token": "t"}, "Dataset"),
		({"platform": META, "meta_dataset_id": "1234567"}, "Access Token"),
		(
			{
				"platform": META,
				"meta_dataset_id": "1234567",
				"meta_access_token": "t",
				"meta_api_version": "21",
			},
			"Version",
		),
		({"platform": GA4, "ga4_measurement_id": "UA-1", "ga4_api_secret": "s"}, "Measurement ID"),
		({"platform": GA4, "ga4_measurement_id": "G-ABCD1234"}, "API Secret"),
		(
			{
				"platform": GA4,
				"ga4_measurement_id": "G-ABCD1234",
				"ga4_api_secret": "s",
				"api_base_url": "ftp://x",
			},
			"Base URL",
		),
		(
			{
				"platform": GA4,
				"ga4_measurement_id": "G-ABCD1234",
				"ga4_api_secret": "s",
				"event_names": [("deal_won", "ga_won")],
			},
			"reserved",
		),
		(
			{
				"platform": GA4,
				"ga4_measurement_id": "G-ABCD1234",
				"ga4_api_secret": "s",
				"event_names": [("custom", "")],
			},
			"no default",
		),
		(
			{
				"platform": GA4,
				"ga4_measurement_id": "G-ABCD1234",
				"ga4_api_secret": "s",
				"event_names": [("nope", "x")],
			},
			"Unknown",
		),
	],
)
def test_destination_validation_names_the_field(values, message):
	with pytest.raises(ValidationError, match=message):
		validate_destination(values)


def test_valid_destinations_pass():
	validate_destination(
		{"platform": META, "meta_dataset_id": "123456789012345", "meta_access_token": "*****"}
	)
	validate_destination(
		{
			"platform": GA4,
			"ga4_measurement_id": "G-ABC123XYZ",
			"ga4_api_secret": "x",
			"event_names": {"deal_won": ""},
		}
	)
