"""Whitelisted methods for campaigns' short links: create one, create many, read a link's statistics."""

import csv
import io

import frappe
from frappe import _
from frappe.query_builder.functions import Count, Date

MAX_BULK_LINKS = 1000


@frappe.whitelist(methods=["POST"])
def create_tracked_link(
	destination: str,
	campaign: str | None = None,
	slug: str | None = None,
	title: str | None = None,
	utm_source: str | None = None,
	utm_medium: str | None = None,
	utm_campaign: str | None = None,
	utm_content: str | None = None,
	utm_term: str | None = None,
) -> dict:
	"""Create a short link (and its QR codes); returns its short URL and the QR file URLs."""
	frappe.has_permission("Tracked Link", "create", throw=True)
	link = frappe.get_doc(
		{
			"doctype": "Tracked Link",
			"destination_url": destination,
			"campaign": campaign,
			"short_code": slug,
			"title": title,
			"utm_source": utm_source,
			"utm_medium": utm_medium,
			"utm_campaign": utm_campaign,
			"utm_content": utm_content,
			"utm_term": utm_term,
		}
	).insert()
	return link.public_view()


@frappe.whitelist(methods=["POST"])
def bulk_create_links(links: list[dict] | None = None, csv_content: str | None = None) -> dict:
	"""Create many links at once, all or nothing.

	`links` is a list of objects with the arguments of create_tracked_link (destination required), or
	`csv_content` a CSV with those column names. If any row is invalid nothing is created and the answer
	lists every row's error: {"created": [], "errors": [{"row": 2, "error": "..."}]}.
	"""
	frappe.has_permission("Tracked Link", "create", throw=True)
	rows = links if links is not None else list(csv.DictReader(io.StringIO(csv_content or "")))
	if not rows:
		frappe.throw(_("Give the links to create as a list or as CSV content"))
	if len(rows) > MAX_BULK_LINKS:
		frappe.throw(_("At most {0} links can be created at once").format(MAX_BULK_LINKS))
	allowed = {"destination", "campaign", "slug", "title"} | {
		f"utm_{k}" for k in ("source", "medium", "campaign", "content", "term")
	}
	created, errors = [], []
	frappe.db.savepoint("trackflow_bulk_links")
	for number, row in enumerate(rows, start=1):
		try:
			unknown = set(row) - allowed
			if unknown:
				raise frappe.ValidationError(_("unknown column(s) {0}").format(", ".join(sorted(unknown))))
			fields = {k: (v or None) for k, v in row.items()}
			destination = fields.pop("destination", None)
			if not destination:
				raise frappe.ValidationError(_("destination is required"))
			doc = frappe.get_doc(
				{
					"doctype": "Tracked Link",
					"destination_url": destination,
					"short_code": fields.pop("slug", None),
					**fields,
				}
			).insert()
			created.append(doc.public_view())
		except frappe.ValidationError as e:
			frappe.clear_last_message()
			errors.append({"row": number, "error": str(e) or e.__class__.__name__})
	if errors:
		frappe.db.rollback(save_point="trackflow_bulk_links")
		return {"created": [], "errors": errors}
	return {"created": created, "errors": []}


@frappe.whitelist()
def get_link_stats(link: str) -> dict:
	"""A link's clicks (bots and previews excluded), unique visitors, and clicks by day, variant, referrer."""
	doc = frappe.get_doc("Tracked Link", link)
	doc.check_permission("read")
	click = frappe.qb.DocType("Click Event")
	human = (click.tracked_link == doc.name) & (click.is_bot == 0)

	def grouped(column, label: str, limit: int | None = None) -> list[dict]:
		query = (
			frappe.qb.from_(click)
			.select(column.as_(label), Count("*").as_("clicks"))
			.where(human)
			.groupby(column)
			.orderby(Count("*"), order=frappe.qb.desc)
		)
		return query.limit(limit).run(as_dict=True) if limit else query.run(as_dict=True)

	by_day = (
		frappe.qb.from_(click)
		.select(Date(click.clicked_at).as_("day"), Count("*").as_("clicks"))
		.where(human)
		.groupby(Date(click.clicked_at))
		.orderby(Date(click.clicked_at))
		.run(as_dict=True)
	)
	return {
		"link": doc.name,
		"short_url": doc.short_url,
		"clicks": doc.total_clicks,
		"unique_visitors": doc.unique_visitors,
		"bot_clicks": doc.bot_clicks,
		"last_click_at": doc.last_click_at,
		"by_day": by_day,
		"by_variant": grouped(click.variant, "variant"),
		"by_referrer": grouped(click.referrer, "referrer", limit=20),
		"qr_scans": frappe.db.count("Click Event", {"tracked_link": doc.name, "is_bot": 0, "is_qr_scan": 1}),
	}
