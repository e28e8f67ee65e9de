app_name = "trackflow"
app_title = "TrackFlow"
app_publisher = "TrackFlow developers"
app_description = "Campaign, link and multi-touch revenue attribution for Frappe CRM"
app_email = "dev@trackflow.invalid"
app_license = "agpl-3.0"
app_icon_url = "/assets/trackflow/images/logo.svg"
app_icon_title = "TrackFlow"
app_icon_route = "/desk/trackflow"  # v16 desk path; Frappe 15 redirects /desk/* to /app/* (its hooks)

# TrackFlow plugs into Frappe CRM. "org/repo" form: bench resolves it, and install-app needs no GitHub lookup.
required_apps = ["frappe/crm"]

# The tile on the /apps screen, shown to users with a TrackFlow or CRM sales role.
add_to_apps_screen = [
	{
		"name": "trackflow",
		"logo": "/assets/trackflow/images/logo.svg",
		"title": "TrackFlow",
		"route": "/desk/trackflow",  # works on v15 and v16: see app_icon_route
		"has_permission": "trackflow.permissions.has_app_permission",
	}
]

# Controllers' typed fields (`# begin: auto-generated types`) are written on export in developer mode.
export_python_type_annotations = True

# Installation
# ------------
before_install = "trackflow.install.before_install"
after_install = "trackflow.install.after_install"
after_migrate = "trackflow.install.after_migrate"
before_uninstall = "trackflow.install.before_uninstall"

# Testing
# -------
before_tests = "trackflow.install.before_tests"

# Permissions
# -----------
# Journey and ledger rows follow CRM: a user reads a row only where they may read its CRM Lead or Deal
# (rows of no lead or deal: TrackFlow's managers only). See trackflow/permissions.py.
has_permission = {
	"TrackFlow Visitor": "trackflow.permissions.has_permission",
	"TrackFlow Session": "trackflow.permissions.has_permission",
	"TrackFlow Event": "trackflow.permissions.has_permission",
	"Touchpoint": "trackflow.permissions.has_permission",
	"Conversion": "trackflow.permissions.has_permission",
	"Attribution Credit": "trackflow.permissions.has_permission",
	"Lead Score History": "trackflow.permissions.has_permission",
	"Lead Score Adjustment": "trackflow.permissions.has_permission",
	"Lead Activity Summary": "trackflow.permissions.has_permission",
}
permission_query_conditions = {
	"TrackFlow Visitor": "trackflow.permissions.query_conditions",
	"TrackFlow Session": "trackflow.permissions.query_conditions",
	"TrackFlow Event": "trackflow.permissions.query_conditions",
	"Touchpoint": "trackflow.permissions.query_conditions",
	"Conversion": "trackflow.permissions.query_conditions",
	"Attribution Credit": "trackflow.permissions.query_conditions",
	"Lead Score History": "trackflow.permissions.query_conditions",
	"Lead Score Adjustment": "trackflow.permissions.query_conditions",
	"Lead Activity Summary": "trackflow.permissions.query_conditions",
}

# Desk
# ----
# The "Download PDF report" action shared by desk forms and the Campaign Performance report.
app_include_js = ["/assets/trackflow/js/desk.js"]

# The journey and per-model credits as a dashboard section (the /crm UI gets them from CRM Form Scripts).
doctype_js = {
	"CRM Lead": [
		"public/js/crm/attribution_panel.js",
		"public/js/crm/desk_attribution.js",
		"public/js/crm_lead.js",
	],
	"CRM Deal": [
		"public/js/crm/attribution_panel.js",
		"public/js/crm/desk_attribution.js",
		"public/js/crm_deal.js",
	],
}

# Requests
# --------
# /r/<code> is answered here, before Frappe's router: see trackflow/web/redirect.py for why.
before_request = ["trackflow.web.redirect.before_request"]

# Document Events
# ---------------
# CRM events become conversions; every handler is guarded so a TrackFlow failure never fails a CRM save.
# on_change (not on_update) because CRM's convert_to_deal changes the lead's status with db_set.
doc_events = {
	"CRM Lead": {
		"after_insert": "trackflow.integrations.crm.on_lead_insert",
		"on_change": "trackflow.integrations.crm.on_lead_change",
		"on_trash": "trackflow.integrations.crm.on_lead_trash",
	},
	"CRM Deal": {
		"after_insert": "trackflow.integrations.crm.on_deal_insert",
		"on_change": "trackflow.integrations.crm.on_deal_change",
		"on_trash": "trackflow.integrations.crm.on_deal_trash",
	},
	# Frappe's personal data requests reach TrackFlow's visitor-keyed rows (see api/privacy.py)
	"Personal Data Deletion Request": {"on_update": "trackflow.api.privacy.on_personal_data_deletion"},
	"Personal Data Download Request": {"after_insert": "trackflow.api.privacy.on_personal_data_download"},
}

# Scheduled Tasks
# ---------------
scheduler_events = {
	"cron": {
		# drain the click and collect queues into the database (one drain per stream at a time)
		"* * * * *": ["trackflow.drain.drain_queues"],
		# send due conversion deliveries to Meta / GA4 (retries wait for their next attempt time)
		"*/5 * * * *": ["trackflow.forwarding.send_due_deliveries"],
	},
	# Each step its own scheduled job (its own log and last run in `trackflow stats`): one that fails stops
	# nothing else. Every sweep guards each record.
	"hourly_long": [
		# conversions a failed CRM handler missed
		"trackflow.integrations.crm.catch_up",
		# attribution pending or due for a retry
		"trackflow.ledger.retry_failed",
		# exact link and campaign counters
		"trackflow.clicks.refresh_counters",
		# fold the click rollup's per-batch delta rows into one row per link and day
		"trackflow.clicks.fold_click_rollup",
	],
	"daily_long": [
		"trackflow.fitting.fit_models",  # refit Markov and Shapley
		"trackflow.scoring.decay_scores",  # decay, due intent, churn risk
		"trackflow.scoring.summarize_recent_activity",  # Lead Activity Summary rows
		"trackflow.retention.purge",  # retention
		"trackflow.links.expire_links",
	],
}

# Personal data
# -------------
# Frappe's personal data download/deletion for an email covers the visitors identified with it;
# `bench trackflow erase-visitor --email` removes everything else identifying about them.
user_data_fields = [
	{"doctype": "TrackFlow Visitor", "filter_by": "email", "redact_fields": ["email"], "partial": 1},
	# CRM Lead's TrackFlow fields hold no contact data; the rest of a person's TrackFlow data (sessions,
	# events, touchpoints, clicks, queued records) is keyed by visitor: the personal data hooks above add it
	# to Frappe's download and erase it on deletion.
]
