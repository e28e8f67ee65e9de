"""Bench commands: `bench --site SITE trackflow <command>`. Thin: each connects to the site and calls
the same functions the scheduler and the API use. Bad input (a refused validation, a missing file or
directory) is one line on stderr and exit code 2: the group turns those errors into click errors."""

import datetime
import sys
from contextlib import contextmanager

import click
import frappe
from frappe.commands import get_site, pass_context

from trackflow.command_errors import OneLineErrorGroup


@contextmanager
def site_connection(context):
	"""Connect to the command's site (or reuse the connection when already on it, as in tests)."""
	site = get_site(context)
	reuse = getattr(frappe.local, "site", None) == site and getattr(frappe.local, "db", None) is not None
	if not reuse:
		frappe.init(site=site)
		frappe.connect()
	try:
		yield
	except Exception:
		frappe.db.rollback()  # nothing half done stays; TrackFlowCommands words the error
		raise
	finally:
		if not reuse:
			frappe.destroy()


class TrackFlowCommands(OneLineErrorGroup):
	"""The trackflow group: Frappe's validation and permission errors are one line too."""

	input_errors = (*OneLineErrorGroup.input_errors, frappe.ValidationError, frappe.PermissionError)

	def describe(self, error: BaseException) -> str:
		return frappe.utils.strip_html(super().describe(error))


@click.group("trackflow", cls=TrackFlowCommands)
def trackflow_group():
	"""TrackFlow: campaigns, links, tracking and attribution."""


@trackflow_group.command("drain")
@click.option("--stream", type=click.Choice(["clicks", "collect", "all"]), default="all", show_default=True)
@click.option("--max-seconds", type=float, default=600, show_default=True, help="Stop after this long.")
@pass_context
def drain_command(context, stream: str, max_seconds: float):
	"""Move queued clicks and collected events into the database now."""
	from trackflow.drain import drain as drain_stream
	from trackflow.queues import STREAMS, get_queue

	with site_connection(context):
		for name in STREAMS if stream == "all" else (stream,):
			backlog = get_queue(name).backlog()
			with click.progressbar(length=backlog, label=f"Draining {name} ({backlog} queued)") as bar:
				stats = drain_stream(name, max_seconds=max_seconds, progress=bar.update)
			if stats.get("skipped"):
				click.echo(f"{name}: not drained now: {stats['skipped']}")
				continue
			click.echo(
				f"{name}: {stats['records']} records in {stats['batches']} batches, {stats['seconds']} s"
				f" ({stats['recovered']} recovered from dead workers, {stats['remaining']} left,"
				f" {stats['dead_letters']} set aside as dead letters)"
			)


@trackflow_group.command("dead-letters")
@click.option("--stream", type=click.Choice(["clicks", "collect", "all"]), default="all", show_default=True)
@click.option(
	"--show", "show", type=click.IntRange(0, 10_000), default=10, show_default=True, help="Newest N to print"
)
@click.option(
	"--replay", is_flag=True, help="Put them back on the queue (after a fix); the next drain retries them"
)
@click.option("--purge", is_flag=True, help="Drop them")
@pass_context
def dead_letters_command(context, stream: str, show: int, replay: bool, purge: bool):
	"""Records the drain could not store, with the reason: inspect, replay or purge them."""
	from trackflow.queues import STREAMS, get_queue

	if replay and purge:
		click.secho("Error: choose --replay or --purge, not both", fg="red", err=True)
		sys.exit(2)
	with site_connection(context):
		for name in STREAMS if stream == "all" else (stream,):
			queue = get_queue(name)
			if replay:
				click.echo(f"{name}: {queue.replay_dead_letters()} dead letters put back on the queue")
				continue
			if purge:
				click.echo(f"{name}: {queue.purge_dead_letters()} dead letters dropped")
				continue
			click.echo(
				f"{name}: {queue.dead_letters()} dead letters"
				f" ({queue.dead_letters_dropped()} dropped at the cap, {queue.shed()} records shed at the backlog cap)"
			)
			for letter in queue.show_dead_letters(show):
				record_id = letter.record.get("id") if isinstance(letter.record, dict) else None
				when = (
					frappe.utils.format_datetime(
						frappe.utils.convert_utc_to_system_timezone(
							datetime.datetime.fromtimestamp(letter.at, datetime.timezone.utc).replace(
								tzinfo=None
							)
						)
					)
					if letter.at
					else "?"
				)
				click.echo(f"  {record_id or '(not a record)'}  {when}  {letter.error}")


@trackflow_group.command("create-link")
@click.argument("url")
@click.option("--campaign", help="Link Campaign name")
@click.option("--slug", help="Custom short code")
@click.option("--title", help="Where the link is placed")
@pass_context
def create_link_command(context, url: str, campaign: str | None, slug: str | None, title: str | None):
	"""Create a tracked short link (and its QR codes) and print its short URL."""
	with site_connection(context):
		frappe.set_user("Administrator")
		link = frappe.get_doc(
			{
				"doctype": "Tracked Link",
				"destination_url": url,
				"campaign": campaign,
				"short_code": slug,
				"title": title,
			}
		).insert()
		frappe.db.commit()
		click.echo(link.short_url)


@trackflow_group.command("stats")
@pass_context
def stats_command(context):
	"""Volumes, queue backlog, pending conversions and the last run of each job."""
	from frappe.query_builder.functions import Count

	from trackflow.queues import STREAMS, get_queue

	with site_connection(context):
		for doctype in (
			"Tracked Link", "Click Event", "TrackFlow Visitor", "TrackFlow Session", "TrackFlow Event",
			"Touchpoint", "Conversion", "Attribution Credit",
		):  # fmt: skip
			click.echo(f"{doctype:<22} {frappe.db.count(doctype):>12,}")
		for stream in STREAMS:
			queue = get_queue(stream)
			age = queue.oldest_age()
			click.echo(
				f"queue {stream:<16} {queue.backlog():>12,} waiting, oldest {age or 0:.0f} s, {queue.in_flight()} in flight"
			)
			click.echo(
				f"queue {stream:<16} {queue.dead_letters():>12,} dead letters"
				f" ({queue.dead_letters_dropped()} dropped), {queue.shed()} shed at the backlog cap"
			)
		for status in ("pending", "error"):
			click.echo(f"conversions {status:<10} {frappe.db.count('Conversion', {'status': status}):>12,}")
		delivery = frappe.qb.DocType("Conversion Delivery")
		for row in (
			frappe.qb.from_(delivery)
			.select(delivery.destination, delivery.status, Count(delivery.name).as_("n"))
			.groupby(delivery.destination, delivery.status)
			.run(as_dict=True)
		):
			click.echo(f"deliveries {row.destination} {row.status:<16} {row.n:>8,}")
		for destination in frappe.get_all("Conversion Destination", pluck="name"):
			last = frappe.get_all(
				"Conversion Delivery",
				filters={"destination": destination, "status": ("in", ["failed", "retrying"])},
				fields=["modified", "response_excerpt"],
				order_by="modified desc",
				limit=1,
			)
			if last:
				click.echo(
					f"last error {destination}: {last[0].modified} {(last[0].response_excerpt or '')[:200]}"
				)
		for job in frappe.get_all(
			"Scheduled Job Type",
			filters={"method": ("like", "trackflow.%")},
			fields=["method", "last_execution", "stopped"],
		):
			click.echo(
				f"job {job.method:<40} last run {job.last_execution or 'never'}{' (stopped)' if job.stopped else ''}"
			)


@trackflow_group.command("recompute")
@click.option("--since", help="Only conversions on or after this date (YYYY-MM-DD)")
@click.option("--model", help="Refit this data-driven model first (Attribution Model name)")
@click.option("--conversion", help="Only this conversion")
@click.option("--dry-run", is_flag=True, help="Say what would be recomputed")
@pass_context
def recompute_command(context, since: str | None, model: str | None, conversion: str | None, dry_run: bool):
	"""Recompute the ledger rows of conversions (every active model; identical numbers for unchanged data)."""
	from trackflow.fitting import fit_models
	from trackflow.ledger import attribute_conversion

	with site_connection(context):
		filters = {"status": ("!=", "void")}
		if conversion:
			filters["name"] = conversion
		if since:
			filters["occurred_at"] = (">=", since)
		names = frappe.get_all("Conversion", filters=filters, pluck="name", order_by="occurred_at asc")
		if dry_run:
			click.echo(f"{len(names)} conversions would be recomputed")
			return
		if model:
			fit_models(model)
		outcomes: dict[str, int] = {}
		with click.progressbar(names, label="Recomputing") as bar:
			for name in bar:
				status = attribute_conversion(name)
				frappe.db.commit()
				outcomes[status] = outcomes.get(status, 0) + 1
		click.echo(
			", ".join(f"{count} {status}" for status, count in sorted(outcomes.items())) or "nothing to do"
		)


@trackflow_group.command("fit-models")
@click.option("--model", help="Only this Attribution Model")
@pass_context
def fit_models_command(context, model: str | None):
	"""Refit the data-driven models (Markov, Shapley) on the journeys of the last year."""
	from trackflow.fitting import fit_models

	with site_connection(context):
		verdicts = fit_models(model)
		frappe.db.commit()
		for name, verdict in verdicts.items():
			click.echo(f"{name}: {verdict}")


@trackflow_group.command("decay-scores")
@pass_context
def decay_scores_command(context):
	"""Apply the daily decay to every lead's engagement score now."""
	from trackflow.scoring import decay_scores

	with site_connection(context):
		result = decay_scores()
		frappe.db.commit()
		click.echo(
			f"{result['changed']} of {result['leads']} leads changed, {result['statements']} statements"
		)


@trackflow_group.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted")
@pass_context
def purge_command(context, dry_run: bool):
	"""Delete raw tracking data older than the retention settings (the ledger is never purged)."""
	from trackflow.retention import purge

	with site_connection(context):
		report = purge(dry_run=dry_run)
		verb = "would delete" if dry_run else "deleted"
		for table, count in report["tables"].items():
			click.echo(f"{table}: {verb} {count}")
		if report["kept_forever"]:
			click.echo(f"kept forever: {', '.join(report['kept_forever'])}")


@trackflow_group.command("erase-visitor")
@click.argument("visitor", required=False)
@click.option("--email", help="Erase every visitor identified with this email")
@pass_context
def erase_visitor_command(context, visitor: str | None, email: str | None):
	"""Erase a visitor and everything identifying about them (right to erasure)."""
	from trackflow.api.privacy import erase_visitor

	if not (visitor or email):
		raise click.UsageError("give a visitor id or --email")
	with site_connection(context):
		frappe.set_user("Administrator")
		result = erase_visitor(visitor=visitor, email=email)
		frappe.db.commit()
		for name, counts in result.items():
			click.echo(f"{name}: {counts}")


@trackflow_group.command("import-touchpoints")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@pass_context
def import_touchpoints_command(context, path: str):
	"""Import offline touches from CSV: timestamp, channel and optional source, medium, campaign,
	touchpoint_id, plus lead, deal or email for identity. Every row is checked by the same rules as
	server-side events (engine.ingest); all rows or none; importing a file again adds nothing."""
	import csv
	import hashlib

	from trackflow.engine.attribution.csv_input import reading
	from trackflow.engine.errors import ValidationError
	from trackflow.engine.ingest import parse_event
	from trackflow.ingest import store_server_events
	from trackflow.times import aware

	with site_connection(context):
		frappe.set_user("Administrator")
		with reading(path), open(path, newline="", encoding="utf-8-sig") as handle:
			rows = list(csv.DictReader(handle))
		events, now = [], frappe.utils.now_datetime().timestamp()
		for number, row in enumerate(rows, start=2):
			given = (row.get("touchpoint_id") or "").strip()
			digest = hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest()[:32]
			raw = {
				"event_id": given or f"import-{digest}",
				"type": "touch",
				"time": aware(row.get("timestamp")).isoformat() if row.get("timestamp") else None,
				**{
					k: row.get(k) or None
					for k in ("channel", "source", "medium", "campaign", "lead", "deal", "email")
				},
			}
			try:
				events.append(parse_event(raw, now=now + 300))
			except ValidationError as error:
				raise frappe.ValidationError(f"{path}, row {number}: {error}") from None
		store_server_events([event.encode() for event in events], touch_type="import")
		frappe.db.commit()
		click.echo(f"{len(rows)} touchpoints imported")


@trackflow_group.command("export-credits")
@click.option("--since", help="Conversions on or after this date (YYYY-MM-DD)")
@click.option("--model", help="Attribution Model name")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="CSV file to write")
@pass_context
def export_credits_command(context, since: str | None, model: str | None, output: str):
	"""Write the attribution ledger (one row per conversion, model and touch) to CSV."""
	import csv

	fields = [
		"conversion", "conversion_type", "converted_at", "attribution_model", "touchpoint", "touched_at",
		"channel", "campaign", "source", "medium", "weight", "credited_value", "currency",
		"credited_value_company", "company_currency", "crm_lead", "crm_deal", "engine_version", "model_spec",
	]  # fmt: skip
	with site_connection(context):
		filters = {}
		if since:
			filters["converted_at"] = (">=", since)
		if model:
			filters["attribution_model"] = model
		rows = frappe.get_all(
			"Attribution Credit", filters=filters, fields=fields, order_by="converted_at, conversion"
		)
		with open(output, "w", newline="") as handle:
			writer = csv.DictWriter(handle, fieldnames=fields)
			writer.writeheader()
			writer.writerows(rows)
		click.echo(f"{len(rows)} ledger rows written to {output}")


@trackflow_group.command("send-test-event")
@click.argument("destination")
@pass_context
def send_test_event_command(context, destination: str):
	"""Send a test event to a Conversion Destination and print the platform's answer."""
	from trackflow.forwarding import send_test_conversion

	with site_connection(context):
		if not frappe.db.exists("Conversion Destination", destination):
			raise frappe.ValidationError(f"No Conversion Destination named {destination}")
		result = send_test_conversion(destination)
		click.echo(
			f"{result['platform']} ({result['mode']}): {result['event_name']} {result['status']}"
			f" (HTTP {result['http_status']}): {result['response']}"
		)
		if result["status"] != "sent":
			sys.exit(1)


@trackflow_group.command("doctor")
@pass_context
def doctor_command(context):
	"""Check the installation and say what to fix."""
	from frappe.utils.scheduler import is_scheduler_disabled

	from trackflow.install import CUSTOM_FIELDS, FORM_SCRIPTS
	from trackflow.queues import STREAMS, get_queue, redis_queue_connection

	problems = []
	with site_connection(context):
		if is_scheduler_disabled():
			problems.append("the scheduler is disabled: bench --site SITE enable-scheduler")
		try:
			redis_queue_connection().ping()
		except Exception as e:
			problems.append(f"redis_queue is unreachable ({e}): start Redis / check common_site_config")
		else:
			for stream in STREAMS:
				queue = get_queue(stream)
				age = queue.oldest_age() or 0
				if age > 600:
					problems.append(
						f"the {stream} queue's oldest record is {age:.0f} s old: is a long worker running?"
					)
				if queue.dead_letters():
					problems.append(
						f"{queue.dead_letters()} {stream} records could not be stored:"
						f" bench --site SITE trackflow dead-letters --stream {stream}"
					)
				if queue.orphaned():
					problems.append(
						f"{queue.orphaned()} {stream} records are held by a worker that died mid-batch: the next"
						f" drain puts them back (bench --site SITE trackflow drain --stream {stream})"
					)
				if queue.shed():
					problems.append(
						f"{queue.shed()} {stream} records were shed because the queue was full: is the drain running?"
					)
		from rq import Worker

		try:
			if not Worker.all(connection=redis_queue_connection()):
				problems.append("no RQ worker is running: bench start / supervisor")
		except Exception:
			pass
		for doctype, fields in CUSTOM_FIELDS.items():
			missing = [
				f["fieldname"] for f in fields if not frappe.get_meta(doctype).has_field(f["fieldname"])
			]
			if missing:
				problems.append(
					f"{doctype} lacks custom fields {', '.join(missing)}: bench --site SITE migrate"
				)
		for script in FORM_SCRIPTS:
			if not frappe.db.exists("CRM Form Script", script):
				problems.append(f"CRM Form Script {script} is missing: bench --site SITE migrate")
		failed = frappe.db.count("Conversion Delivery", {"status": "failed"})
		if failed:
			problems.append(f"{failed} conversion deliveries failed: see Conversion Delivery (status failed)")
		overdue = frappe.db.count(
			"Conversion Delivery",
			{"status": "queued", "next_attempt_at": ("<", frappe.utils.add_to_date(None, hours=-1))},
		)
		if overdue:
			problems.append(f"{overdue} conversion deliveries waited over an hour: is the scheduler running?")
		if not frappe.get_all("Attribution Model", {"active": 1}):
			problems.append("no active Attribution Model: activate one in TrackFlow")
		errors = frappe.db.count(
			"Error Log",
			{"method": ("like", "TrackFlow%"), "creation": (">", frappe.utils.add_days(None, -1))},
		)
		if errors:
			problems.append(f"{errors} TrackFlow errors in the Error Log in the last day")
	for problem in problems:
		click.secho(f"✗ {problem}", fg="red")
	if problems:
		sys.exit(1)
	click.secho("✓ TrackFlow looks healthy", fg="green")


commands = [trackflow_group]
