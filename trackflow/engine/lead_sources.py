"""CRM's own lead sources in the journey: a Facebook lead ad as a touch, and CRM's Lead Source from the
channel of a lead's first touch."""

from collections.abc import Iterable, Mapping

PAID_SOCIAL = "paid_social"
LEAD_FORM_MEDIUM = "lead_form"

# TrackFlow channel -> the CRM Lead Source TrackFlow fills in on a new lead that has none (created when the
# site does not have it yet), so CRM's own "leads by source" dashboard shows real channels.
CHANNEL_SOURCES: Mapping[str, str] = {
	"email": "Email",
	"paid_search": "Paid Search",
	"organic_search": "Organic Search",
	"paid_social": "Paid Social",
	"organic_social": "Organic Social",
	"display": "Display Ads",
	"affiliate": "Affiliate",
	"video": "Video",
	"sms": "SMS",
	"qr": "QR Code",
	"referral": "Referral",
	"offline": "Offline",
	"direct": "Direct",
	"other": "Other",
}


def lead_form_touch(facebook_lead_id: str | None, form_id: str | None, form_name: str | None) -> dict | None:
	"""The touch of a lead that CRM's Facebook lead sync created (CRM 1.56+: facebook_lead_id and
	facebook_form_id on the lead), or None for any other lead: channel paid_social, source facebook, the
	lead form (its name, else its id) as the campaign."""
	if not facebook_lead_id:
		return None
	return {
		"channel": PAID_SOCIAL,
		"source": "facebook",
		"medium": LEAD_FORM_MEDIUM,
		"campaign_name": (form_name or form_id or "").strip() or None,
		"content": (form_id or "").strip() or None,
	}


def campaign_for_form(form_id: str | None, form_name: str | None, campaigns: Iterable[Mapping]) -> str | None:
	"""The Link Campaign that names this lead form: its UTM campaign or its own name equals the form's name
	or id (case and surrounding spaces ignored); the first by name when several do."""
	wanted = {v.strip().lower() for v in (form_id, form_name) if v and v.strip()}
	if not wanted:
		return None
	for campaign in sorted(campaigns, key=lambda c: c["name"]):
		names = {
			str(campaign.get(k) or "").strip().lower() for k in ("utm_campaign", "campaign_name", "name")
		}
		if names & wanted:
			return campaign["name"]
	return None


def crm_source_for(channel: str | None) -> str | None:
	"""The CRM Lead Source name for a TrackFlow channel (None for no channel)."""
	return CHANNEL_SOURCES.get(channel) if channel else None
