"""Lead scores gained fit, engagement and intent components: rescore every scored lead once, in the
background (custom fields are added after the patches run, and a large site should not wait in migrate)."""

import frappe


def execute():
	if not frappe.db.has_column("CRM Lead", "tf_scored_at"):
		return  # TrackFlow's fields are not installed yet: nothing was scored
	frappe.enqueue(
		"trackflow.scoring.rescore_scored_leads",
		queue="long",
		timeout=4 * 3600,
		job_id="trackflow-rescore-components",
		deduplicate=True,
		enqueue_after_commit=True,
	)
