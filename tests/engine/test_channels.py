"""Default channel grouping (GA4-like) and ordered override rules."""

import pytest

from trackflow.engine.channels import CHANNELS, classify_channel
from trackflow.engine.errors import ValidationError


@pytest.mark.parametrize(
	"source, medium, referrer, click_ids, expected",
	[
		(None, None, None, None, "direct"),
		("(direct)", "(none)", "", [], "direct"),
		("google", "cpc", None, None, "paid_search"),
		(None, None, "https://www.google.com/", ["gclid"], "paid_search"),
		("bing", "organic", None, None, "organic_search"),
		(None, None, "https://duckduckgo.com/?q=x", None, "organic_search"),
		("facebook", "paid_social", None, None, "paid_social"),
		("linkedin", "cpc", None, None, "paid_social"),
		(None, None, "https://l.facebook.com/", ["fbclid"], "organic_social"),
		("twitter", "social", None, None, "organic_social"),
		("newsletter", "email", None, None, "email"),
		("partner", "affiliate", None, None, "affiliate"),
		("gdn", "display", None, None, "display"),
		("youtube", "cpv", None, None, "video"),
		(None, None, "https://m.youtube.com/watch", None, "video"),
		("twilio", "sms", None, None, "sms"),
		("poster", "qr", None, None, "qr"),
		("expo", "offline", None, None, "offline"),
		(None, None, "https://blog.example.org/post", None, "referral"),
		("mystery", "weird", None, None, "other"),
	],
)
def test_default_grouping(source, medium, referrer, click_ids, expected):
	assert classify_channel(source, medium, referrer, click_ids) == expected
	assert expected in CHANNELS


def test_override_rules_are_ordered_and_all_conditions_must_match():
	rules = [
		{"channel": "partner_email", "source": "acme.*", "medium": "email"},
		{"channel": "paid_search", "click_id": "gclid"},
		{"channel": "internal", "referrer": r"https://intranet\..*"},
	]
	assert classify_channel("acme-news", "email", None, None, rules) == "partner_email"
	assert classify_channel("other", "email", None, None, rules) == "email"  # falls through to defaults
	assert classify_channel("acme", "email", None, ["gclid"], rules) == "partner_email"  # first rule wins
	assert classify_channel(None, None, "https://intranet.example/", None, rules) == "internal"


@pytest.mark.parametrize(
	"rule, message",
	[
		({"source": "x"}, "channel"),
		({"channel": "x"}, "at least one"),
		({"channel": "x", "source": "("}, "regex"),
		({"channel": "x", "colour": "red"}, "unknown field"),
	],
)
def test_bad_rules_are_rejected(rule, message):
	with pytest.raises(ValidationError, match=message):
		classify_channel("a", "b", None, None, [rule])
