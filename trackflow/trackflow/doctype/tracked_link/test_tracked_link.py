# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import secrets
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import patch

import frappe
from werkzeug.exceptions import HTTPException

from trackflow import links
from trackflow.api.links import bulk_create_links, create_tracked_link, get_link_stats
from trackflow.drain import drain
from trackflow.engine import links as engine_links
from trackflow.queues import get_queue
from trackflow.testing import TrackFlowTestCase, fake_request
from trackflow.trackflow.doctype.trackflow_settings.test_trackflow_settings import make_user
from trackflow.web import redirect

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


def make_campaign(name: str, **fields) -> str:
	if not frappe.db.exists("Link Campaign", name):
		frappe.get_doc(
			{"doctype": "Link Campaign", "campaign_name": name, "status": "Active", **fields}
		).insert()
	return name


def make_link(destination: str = "https://example.com/pricing", **fields):
	return frappe.get_doc({"doctype": "Tracked Link", "destination_url": destination, **fields}).insert()


def visit(
	code: str,
	method: str = "GET",
	user_agent: str = BROWSER,
	query: str = "",
	cookies: str = "",
	referrer: str = "",
):
	"""Run the /r/ hook as the app would; returns the response it ends the request with."""
	headers = {"User-Agent": user_agent, "Host": "trackflow.test"}
	if cookies:
		headers["Cookie"] = cookies
	if referrer:
		headers["Referer"] = referrer
	fake_request(method, f"/r/{code}" + (f"?{query}" if query else ""), headers=headers)
	links.clear_settings_cache()
	try:
		redirect.before_request()
	except HTTPException as e:
		return e.response
	finally:
		frappe.local.request = None
	raise AssertionError(f"/r/{code} was not answered by the redirect hook")


class TestTrackedLink(TrackFlowTestCase):
	def setUp(self):
		get_queue("clicks").clear()

	def test_generated_code_and_short_url(self):
		link = make_link()
		self.assertEqual(
			len(link.short_code), frappe.db.get_single_value("TrackFlow Settings", "short_code_length")
		)
		self.assertTrue(set(link.short_code) <= set(engine_links.SHORT_CODE_ALPHABET))
		self.assertTrue(link.short_url.endswith(f"/r/{link.short_code}"))
		self.assertEqual(link.title, "example.com/pricing")

	def test_generated_code_collision_retries_on_the_unique_index(self):
		taken = make_link().short_code
		fresh = engine_links.new_code(12)
		codes = iter([taken.swapcase(), fresh])  # the first collides case-insensitively
		with patch.object(engine_links, "new_code", side_effect=lambda length=7: next(codes)):
			link = make_link("https://example.com/other")
		self.assertEqual(link.short_code, fresh)

	def test_custom_slug_rules(self):
		slug = f"Spring-Sale-{frappe.generate_hash(length=6)}"
		make_link(short_code=slug)
		with self.assertRaises(frappe.DuplicateEntryError):
			make_link(short_code=slug.lower())
		for bad in ("api", "no spaces", "x", "-dash"):
			with self.assertRaises(frappe.ValidationError, msg=bad):
				make_link(short_code=bad)

	def test_destination_must_be_absolute_http(self):
		before = frappe.db.count("Tracked Link")
		for bad in ("javascript:alert(1)", "data:text/html,hi", "/relative", "https://", "ftp://x.org/f"):
			with self.assertRaises(frappe.ValidationError, msg=bad):
				make_link(bad)
		self.assertEqual(frappe.db.count("Tracked Link"), before)

	def test_utm_defaults_from_campaign_and_merge(self):
		campaign = make_campaign("TF Test Newsletter", utm_source="newsletter", utm_medium="email")
		link = make_link("https://example.com/p?utm_source=keepme&a=1", campaign=campaign)
		self.assertEqual(
			(link.utm_source, link.utm_medium, link.utm_campaign), ("newsletter", "email", campaign)
		)
		response = visit(link.short_code)
		self.assertEqual(response.status_code, 302)
		location = response.headers["Location"]
		self.assertIn("utm_source=keepme", location)  # the destination's own value is kept
		self.assertIn("utm_medium=email", location)
		self.assertEqual(response.headers["Cache-Control"], "no-store")

	def test_a_changed_utm_merge_mode_reaches_cached_links_at_once(self):
		link = make_link("https://example.com/p?utm_source=theirs", utm_source="ours")
		self.assertIn("utm_source=theirs", visit(link.short_code).headers["Location"])  # cached, "keep"
		settings = frappe.get_single("TrackFlow Settings")
		before = settings.utm_merge_mode
		settings.utm_merge_mode = "override"
		settings.save()
		try:
			self.assertIn("utm_source=ours", visit(link.short_code).headers["Location"])
		finally:
			settings.utm_merge_mode = before
			settings.save()

	def test_qr_files_are_private_attachments(self):
		link = make_link()
		for fieldname in ("qr_code_png", "qr_code_svg"):
			file = frappe.get_doc("File", {"file_url": link.get(fieldname)})
			self.assertTrue(file.is_private)
			self.assertEqual((file.attached_to_doctype, file.attached_to_name), ("Tracked Link", link.name))
		self.assertTrue(
			frappe.get_doc("File", {"file_url": link.qr_code_png}).get_content().startswith(b"\x89PNG")
		)

	def test_redirect_click_is_queued_then_drained_once(self):
		link = make_link()
		response = visit(link.short_code)
		self.assertEqual(response.status_code, 302)
		self.assertIn("_tf_r=", response.headers["Set-Cookie"])
		visit(link.short_code, method="HEAD")  # a bot: redirected, flagged
		visit(link.short_code, user_agent="Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")
		visit(link.short_code, query="q=1")
		queue = get_queue("clicks")
		self.assertEqual(queue.backlog(), 4)
		records = queue.take(10)
		queue.release()
		drain("clicks")
		drain("clicks")
		get_queue("clicks").enqueue(records[0])  # a replayed click inserts nothing and counts nothing
		drain("clicks")
		link.reload()
		self.assertEqual(frappe.db.count("Click Event", {"tracked_link": link.name}), 4)
		self.assertEqual((link.total_clicks, link.bot_clicks), (2, 2))
		scan = frappe.get_all("Touchpoint", {"tracked_link": link.name, "channel": "qr"}, pluck="name")
		self.assertEqual(len(scan), 1)
		self.assertEqual(frappe.db.count("Touchpoint", {"tracked_link": link.name}), 2)

	def test_unknown_and_inactive_codes(self):
		self.assertEqual(visit("NoSuchCode9").status_code, 404)
		link = make_link(status="Disabled")
		self.assertEqual(visit(link.short_code).status_code, 404)
		link = make_link(status="Disabled", fallback_url="https://example.com/sorry")
		response = visit(link.short_code)
		self.assertEqual(
			(response.status_code, response.headers["Location"]), (302, "https://example.com/sorry")
		)

	def test_max_clicks_sends_to_fallback(self):
		link = make_link(max_clicks=1, fallback_url="https://example.com/full")
		self.assertEqual(visit(link.short_code).headers["Location"], "https://example.com/pricing")
		drain("clicks")
		self.assertEqual(visit(link.short_code).headers["Location"], "https://example.com/full")

	def test_max_clicks_is_exact_under_50_concurrent_clicks(self):
		"""Ten threads, each a request context of its own on this site, click a three-click link 50 times
		before any drain runs: exactly three reach the destination, the rest get the fallback at once."""
		link = make_link(max_clicks=3, fallback_url="https://example.com/full")
		frappe.db.commit()  # the threads' own connections read the link
		site, sites_path = frappe.local.site, frappe.local.sites_path

		def clicks(count: int) -> list[str]:
			frappe.init(site=site, sites_path=sites_path)
			frappe.connect()
			try:
				return [visit(link.short_code).headers["Location"] for _ in range(count)]
			finally:
				frappe.destroy()

		try:
			with ThreadPoolExecutor(10) as pool:
				answers = [a for batch in pool.map(clicks, [5] * 10) for a in batch]
			self.assertEqual(len(answers), 50)
			self.assertEqual(answers.count("https://example.com/pricing"), 3)
			self.assertEqual(answers.count("https://example.com/full"), 47)
			drain("clicks")  # every click is stored, with what it got
			outcomes = frappe.get_all("Click Event", {"tracked_link": link.name}, pluck="outcome")
			self.assertEqual((outcomes.count("destination"), outcomes.count("fallback")), (3, 47))
		finally:
			frappe.delete_doc("Tracked Link", link.name, force=True)
			frappe.db.commit()

	def test_variants_are_sticky_per_visitor(self):
		link = make_link(
			variants=[
				{"label": "A", "destination_url": "https://example.com/a", "weight": 1},
				{"label": "B", "destination_url": "https://example.com/b", "weight": 1},
			]
		)
		first = visit(link.short_code)
		cookie = first.headers["Set-Cookie"].split(";")[0]
		for _ in range(5):
			self.assertEqual(
				visit(link.short_code, cookies=cookie).headers["Location"], first.headers["Location"]
			)


class TestLinksAPI(TrackFlowTestCase):
	def tearDown(self):
		frappe.set_user("Administrator")

	def test_create_requires_permission(self):
		frappe.set_user(make_user("tf-seller@example.com", ["Sales User"]))
		with self.assertRaises(frappe.PermissionError):
			create_tracked_link("https://example.com/x")
		frappe.set_user(make_user("tf-campaigns@example.com", ["Campaign Manager"]))
		result = create_tracked_link("https://example.com/x", title="API link")
		self.assertTrue(result["short_url"].endswith(result["short_code"]))
		self.assertTrue(result["qr_code_png"].startswith("/private/files/"))

	def test_bulk_create_is_all_or_nothing(self):
		before = frappe.db.count("Tracked Link")
		result = bulk_create_links(
			csv_content=f"destination,slug\nhttps://example.com/1,bulk-{frappe.generate_hash(length=8)}\n"
			"javascript:x,\nhttps://example.com/3,api\n"
		)
		self.assertEqual([e["row"] for e in result["errors"]], [2, 3])
		self.assertEqual(frappe.db.count("Tracked Link"), before)
		result = bulk_create_links(
			links=[{"destination": "https://example.com/1"}, {"destination": "https://example.com/2"}]
		)
		self.assertEqual((len(result["created"]), result["errors"]), (2, []))

	def test_link_stats(self):
		link = make_link()
		visit(link.short_code)
		visit(link.short_code, method="HEAD")
		drain("clicks")
		stats = get_link_stats(link.name)
		self.assertEqual((stats["clicks"], stats["bot_clicks"]), (1, 1))
		self.assertEqual(sum(day["clicks"] for day in stats["by_day"]), 1)
		frappe.set_user(make_user("tf-outsider@example.com", ["Blogger"]))
		with self.assertRaises(frappe.PermissionError):
			get_link_stats(link.name)


class TestRedirectToSiteDomains(TrackFlowTestCase):
	def test_a_site_domain_with_a_port_gets_the_click_id(self):
		"""A TrackFlow Site on 127.0.0.1:8765 (the form and collect accept a port): /r/ appends tf_click to a
		destination on that host and port, and not to the same host on another port."""
		name = f"TF port site {secrets.token_hex(3)}"
		frappe.get_doc(
			{"doctype": "TrackFlow Site", "site_name": name, "allowed_domains": "127.0.0.1:8765"}
		).insert()
		try:
			links.clear_settings_cache()
			own = make_link("http://127.0.0.1:8765/shop")
			other = make_link("http://127.0.0.1:9999/shop")
			self.assertIn("tf_click=", visit(own.short_code).headers["Location"])
			self.assertNotIn("tf_click=", visit(other.short_code).headers["Location"])
		finally:
			frappe.delete_doc("TrackFlow Site", name, force=True)
			links.clear_settings_cache()
