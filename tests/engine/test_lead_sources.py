"""CRM's own lead sources: a Facebook lead ad as a touch, a Link Campaign that names the form, and CRM's
Lead Source from a channel."""

from trackflow.engine.lead_sources import CHANNEL_SOURCES, campaign_for_form, crm_source_for, lead_form_touch


def test_a_facebook_lead_ad_is_a_paid_social_touch_of_its_form():
	assert lead_form_touch(None, "123", "Spring form") is None
	assert lead_form_touch("l-1", "123", "Spring form") == {
		"channel": "paid_social",
		"source": "facebook",
		"medium": "lead_form",
		"campaign_name": "Spring form",
		"content": "123",
	}
	assert lead_form_touch("l-2", "123", None)["campaign_name"] == "123"


def test_the_campaign_that_names_the_form():
	campaigns = [
		{"name": "CAMP-2", "campaign_name": "Summer", "utm_campaign": "spring form"},
		{"name": "CAMP-1", "campaign_name": "Spring Form", "utm_campaign": None},
		{"name": "CAMP-3", "campaign_name": "Other", "utm_campaign": "987"},
	]
	assert campaign_for_form("123", " Spring Form ", campaigns) == "CAMP-1"  # both match: first by name
	assert campaign_for_form("987", None, campaigns) == "CAMP-3"
	assert campaign_for_form("555", "Nothing", campaigns) is None
	assert campaign_for_form(None, "  ", campaigns) is None


def test_every_channel_has_a_crm_lead_source():
	from trackflow.engine.channels import CHANNELS

	assert set(CHANNELS) <= set(CHANNEL_SOURCES)
	assert crm_source_for("paid_search") == "Paid Search" and crm_source_for(None) is None
