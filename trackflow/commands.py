"""Bench commands: `bench --site SITE trackflow <command>`. Thin: each connects to the site and calls
the same functions the scheduler and the API use. Errors are one line on stderr and a non-zero exit."""

import sys
from contextlib import contextmanager

import click
import frappe
from frappe.commands import get_site, pass_context


@contextmanager
def site_connection(context):
	frappe.init(site=get_site(context))
	frappe.connect()
	try:
		yield
	except frappe.ValidationError as e:
		frappe.db.rollback()
		click.secho(f"Error: {frappe.utils.strip_html(str(e))}", fg="red", err=True)
		sys.exit(1)
	finally:
		frappe.destroy()


@click.group("trackflow")
def trackflow_group():
	"""TrackFlow: campaigns, links, tracking and attribution."""


@trackflow_group.command("drain")
@click.option("--stream", type=click.Choice(["clicks", "collect", "all"]), default="all", show_default=True)
@click.option("--max-seconds", type=float, default=600, show_default=True, help="Stop after this long.")
@pass_context
def drain_command(context, stream: str, max_seconds: float):
	"""Move queued clicks and collected events into the database now."""
	from trackflow.queues import STREAMS, get_queue
	from trackflow.tasks import drain as drain_stream

	with site_connection(context):
		for name in STREAMS if stream == "all" else (stream,):
			backlog = get_queue(name).backlog()
			with click.progressbar(length=backlog, label=f"Draining {name} ({backlog} queued)") as bar:
				stats = drain_stream(name, max_seconds=max_seconds, progress=bar.update)
			click.echo(
				f"{name}: {stats['records']} records in {stats['batches']} batches, {stats['seconds']} s"
				f" ({stats['recovered']} recovered from dead workers, {stats['remaining']} left)"
			)


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


commands = [trackflow_group]
