"""hooks.py is the schedule: every step is its own Scheduled Job Type, one drain per stream runs at a time,
and uninstall leaves no TrackFlow job behind."""

import frappe

from trackflow.drain import drain
from trackflow.install import remove_scheduled_jobs
from trackflow.queues import get_queue
from trackflow.testing import TrackFlowTestCase

STEPS = (
	"trackflow.integrations.crm.catch_up",
	"trackflow.ledger.retry_failed",
	"trackflow.clicks.refresh_counters",
	"trackflow.clicks.fold_click_rollup",
	"trackflow.fitting.fit_models",
	"trackflow.scoring.decay_scores",
	"trackflow.scoring.summarize_recent_activity",
	"trackflow.retention.purge",
	"trackflow.links.expire_links",
)


class TestSchedule(TrackFlowTestCase):
	def test_every_step_is_its_own_scheduled_job(self):
		from frappe.core.doctype.scheduled_job_type.scheduled_job_type import sync_jobs

		sync_jobs()
		jobs = dict(
			frappe.get_all(
				"Scheduled Job Type",
				{"method": ("like", "trackflow.%")},
				["method", "frequency"],
				as_list=True,
			)
		)
		for step in STEPS:
			self.assertIn(step, jobs)
			self.assertIn(jobs[step], ("Hourly Long", "Daily Long"))
		# paths of earlier releases are gone once the jobs are synced (migrate)
		for old in ("trackflow.tasks.hourly", "trackflow.tasks.drain_queues", "trackflow.maintenance.purge"):
			self.assertNotIn(old, jobs)

	def test_a_second_drain_of_a_stream_waits_for_the_first(self):
		queue = get_queue("clicks")
		token = queue.lock(60)
		try:
			self.assertEqual(drain("clicks")["skipped"], "another drain of this stream is running")
		finally:
			queue.unlock(token)
		self.assertNotIn("skipped", drain("clicks"))

	def test_uninstall_removes_trackflows_scheduled_jobs(self):
		from frappe.core.doctype.scheduled_job_type.scheduled_job_type import sync_jobs

		sync_jobs()
		self.assertTrue(frappe.db.exists("Scheduled Job Type", {"method": "trackflow.retention.purge"}))
		remove_scheduled_jobs()
		self.assertFalse(frappe.db.exists("Scheduled Job Type", {"method": ("like", "trackflow.%")}))
		sync_jobs()  # as migrate would put them back
