"""Conversions and the attribution ledger: record a conversion, attribute it under every active model,
replace its credit rows atomically, void it. The computing is the engine's; this module reads and writes."""

import hashlib
import json
from datetime import datetime
from decimal import Decimal

import frappe
from frappe.utils import add_to_date, flt, now_datetime

from trackflow.bulk import STANDARD_FIELDS, insert_guest_rows, insert_rows
from trackflow.engine import ENGINE_VERSION, guest
from trackflow.engine.attribution.ledger import LedgerModel, credit_models
from trackflow.engine.attribution.registry import get_model, validate_params
from trackflow.engine.attribution.types import Conversion as EngineConversion
from trackflow.engine.conversions import check_conversion
from trackflow.engine.forwarding.backoff import Backoff
from trackflow.engine.privacy import scrub_personal_data
from trackflow.error_log import log_failure
from trackflow.forwarding import queue_deliveries
from trackflow.journeys import journey
from trackflow.scoring import enqueue_rescore
from trackflow.settings import get_settings
from trackflow.times import aware

MAX_ATTEMPTS = 8
# The same backoff as deliveries (engine), on the attribution's own scale: 10 minutes doubling to 6 hours.
RETRY = Backoff(base_seconds=600, cap_seconds=6 * 3600)


# Who reported a conversion. A browser's report (the embed script: anyone can send one) is superseded by a
# CRM or server-side conversion with the same order id, so an order counts once.
CRM = "CRM"
SERVER = "Server"
BROWSER = "Browser"


def save_conversion(
	conversion_type: str,
	idempotency_key: str,
	occurred_at: datetime | None = None,
	value: float | Decimal | None = None,
	currency: str | None = None,
	exchange_rate: float = 1,
	crm_lead: str | None = None,
	crm_deal: str | None = None,
	visitor: str | None = None,
	source_doctype: str | None = None,
	source_name: str | None = None,
	reported_by: str = SERVER,
	order_id: str | None = None,
):
	"""Insert a CRM or server-side conversion, or return the one with this idempotency key (a voided one
	comes back to life with the new values). Attribution is enqueued to run after the current transaction
	commits. With an `order_id`, the browser's reports of the same order are voided: the order counts once
	(browser reports themselves are stored in bulk by `save_browser_conversions`)."""
	existing = frappe.db.get_value("Conversion", {"idempotency_key": idempotency_key}, "name")
	if existing:
		doc = frappe.get_doc("Conversion", existing)
		if doc.status != "void":
			return doc
		doc.update(
			{"occurred_at": occurred_at or now_datetime(), "value": value, "exchange_rate": exchange_rate}
		)
		doc.status = "pending"
		doc.save(ignore_permissions=True)
	else:
		doc = frappe.get_doc(
			{
				"doctype": "Conversion",
				"conversion_type": conversion_type,
				"idempotency_key": idempotency_key,
				"occurred_at": occurred_at or now_datetime(),
				"value": value,
				"currency": currency,
				"exchange_rate": exchange_rate or 1,
				"crm_lead": crm_lead,
				"crm_deal": crm_deal,
				"visitor": visitor,
				"source_doctype": source_doctype,
				"source_name": source_name,
				"reported_by": reported_by,
				"order_id": order_id,
			}
		).insert(ignore_permissions=True)
	if doc.order_id:
		for name in frappe.get_all(
			"Conversion",
			{"order_id": doc.order_id, "reported_by": BROWSER, "status": ("!=", "void")},
			pluck="name",
		):
			_void(frappe.get_doc("Conversion", name), f"Superseded by {doc.name} ({doc.reported_by})")
	enqueue_attribution(doc.name)
	# Deliveries to the ad platforms are created by a job after the commit, never in CRM's transaction.
	frappe.enqueue(
		"trackflow.forwarding.queue_deliveries",
		job_id=f"trackflow-deliveries-{doc.name}",
		deduplicate=True,
		enqueue_after_commit=True,
		conversion_name=doc.name,
	)
	if doc.crm_lead:
		enqueue_rescore(doc.crm_lead)
	return doc


def save_browser_conversions(conversions: list[dict]) -> list[str]:
	"""A drain batch's browser-reported conversions, in bulk: the same rules as `save_conversion` (engine
	conversion checks, one conversion per idempotency key, a CRM or server-side report of the same order
	wins) with a fixed number of statements per batch, and one job after the commit that attributes them,
	queues their deliveries and rescores their leads. Each dict holds conversion_type, idempotency_key,
	occurred_at (naive, site time), value (Decimal or None), currency, visitor, crm_lead, source_name (the
	TrackFlow Event) and order_id. Returns the names stored (a key seen before is skipped); a conversion the
	rules refuse raises ValidationError with its reason, before anything is written."""
	keys = [c["idempotency_key"] for c in conversions]
	known = set(frappe.get_all("Conversion", {"idempotency_key": ("in", keys)}, pluck="idempotency_key"))
	fresh, seen = [], set()
	for c in conversions:
		if c["idempotency_key"] not in known and c["idempotency_key"] not in seen:
			seen.add(c["idempotency_key"])
			fresh.append(c)
	if not fresh:
		return []
	orders = sorted({c["order_id"] for c in fresh if c.get("order_id")})
	winners = dict(
		frappe.get_all(
			"Conversion",
			{"order_id": ("in", orders), "reported_by": ("in", [CRM, SERVER]), "status": ("!=", "void")},
			["order_id", "name"],
			as_list=True,
		)
		if orders
		else []
	)
	company = frappe.db.get_default("currency") or "USD"
	now = now_datetime()
	rows, pending = [], []
	for c in fresh:
		check = check_conversion(
			c["conversion_type"], c["value"], c["currency"], aware(c["occurred_at"]), aware(now)
		)
		winner = winners.get(c.get("order_id"))
		name = frappe.generate_hash(length=10)
		rows.append(
			[
				name, now, now, "Guest", "Guest",
				c["conversion_type"], c["occurred_at"], "void" if winner else "pending",
				c["value"], c["currency"], 1, c["value"], company,
				c.get("crm_lead"), c["visitor"], "TrackFlow Event", c["source_name"],
				c["idempotency_key"], BROWSER, c.get("order_id"), 0,
				int(check.flagged), check.reason,
				f"Superseded by {winner}, which reported order {c['order_id']} too" if winner else None,
			]
		)  # fmt: skip
		if not winner:
			pending.append(name)
	fields = [*STANDARD_FIELDS, "conversion_type", "occurred_at", "status", "value", "currency"]
	fields += ["exchange_rate", "value_company_currency", "company_currency", "crm_lead", "visitor"]
	fields += ["source_doctype", "source_name", "idempotency_key", "reported_by", "order_id", "attempts"]
	fields += ["flagged", "flag_reason", "error"]
	insert_guest_rows("Conversion", fields, rows)
	if pending:
		frappe.enqueue(
			"trackflow.ledger.process_new_conversions",
			queue="default",
			enqueue_after_commit=True,
			names=pending,
		)
	return [row[0] for row in rows]


def process_new_conversions(names: list[str]) -> dict:
	"""The job after a batch of new conversions commits: attribute each (a failure is recorded on the
	conversion, as for one), queue its deliveries and rescore its lead; one bad conversion stops none."""
	done = {"attributed": 0, "failed": 0}
	names = frappe.get_all("Conversion", {"name": ("in", names)}, pluck="name")  # a key a race kept out
	for name in names:
		if attribute_conversion(name) == "error":
			done["failed"] += 1
		else:
			done["attributed"] += 1
		frappe.db.commit()
		try:
			queue_deliveries(name)
			frappe.db.commit()
		except Exception as error:
			frappe.db.rollback()
			log_failure(
				"TrackFlow: the deliveries of a conversion could not be queued", error, "Conversion", name
			)
	for lead in set(
		frappe.get_all("Conversion", {"name": ("in", names), "crm_lead": ("is", "set")}, pluck="crm_lead")
	):
		enqueue_rescore(lead)
	return done


def _void(doc, reason: str) -> None:
	frappe.db.delete("Attribution Credit", {"conversion": doc.name})
	doc.db_set({"status": "void", "error": reason[:1000]})
	doc.add_comment("Info", reason)


def enqueue_attribution(conversion: str) -> None:
	frappe.enqueue(
		"trackflow.ledger.attribute_conversion",
		queue="default",
		job_id=f"trackflow-attribute-{conversion}",
		deduplicate=True,
		enqueue_after_commit=True,
		conversion=conversion,
	)


def void_conversion(idempotency_key: str, reason: str) -> None:
	"""A deal moved out of won: its conversion stops counting. The credit rows go; the conversion stays,
	marked void, with the reason in its timeline."""
	name = frappe.db.get_value("Conversion", {"idempotency_key": idempotency_key}, "name")
	if not name:
		return
	frappe.db.delete("Attribution Credit", {"conversion": name})
	doc = frappe.get_doc("Conversion", name)
	doc.db_set("status", "void")
	doc.add_comment("Info", reason)


def attribute_conversion(conversion: str) -> str:
	"""The job: compute every active model for one conversion and replace its ledger rows. A failure is
	recorded on the conversion (status error, attempts, next attempt with backoff) for the sweeper."""
	doc = frappe.get_doc("Conversion", conversion)
	if doc.status == "void":
		return doc.status
	try:
		rows, touches, by_id = _compute(doc)
		replace_credits(doc.name, rows)
		update_crm_summary(doc, rows, touches, by_id)
	except Exception as e:
		# Nothing half-written: the ledger rows and the CRM summary go back together. After MAX_ATTEMPTS
		# the conversion stays in "error" with its reason and the sweeper stops retrying it.
		frappe.db.rollback()
		attempts = (doc.attempts or 0) + 1
		reason = f"{type(e).__name__}: {scrub_personal_data(e)}"
		frappe.db.set_value(
			"Conversion",
			doc.name,
			{
				"status": "error",
				"error": reason[:1000],
				"attempts": attempts,
				"next_attempt_at": add_to_date(now_datetime(), seconds=RETRY.delay(attempts))
				if attempts < MAX_ATTEMPTS
				else None,
			},
		)
		log_failure(f"TrackFlow: attribution of {doc.name} failed", e, "Conversion", doc.name)
		return "error"
	status = "attributed" if rows else "no_touchpoints"
	frappe.db.set_value(
		"Conversion",
		doc.name,
		{"status": status, "error": None, "attributed_at": now_datetime(), "next_attempt_at": None},
	)
	return status


def update_crm_summary(doc, rows: list[dict], touches: list, by_id: dict) -> None:
	"""The lead's and deal's tf_* fields: first and last touch, touch count, visitor, and the campaign the
	default model credits most. Written without touching `modified` (it is not a user's edit)."""
	targets = [(dt, name) for dt, name in (("CRM Lead", doc.crm_lead), ("CRM Deal", doc.crm_deal)) if name]
	if not targets or not frappe.get_meta("CRM Lead").has_field("tf_touch_count"):
		return
	default = get_settings().default_attribution_model
	by_campaign: dict[str, Decimal] = {}
	for row in rows:
		if row["attribution_model"] == default and row["campaign"]:
			by_campaign[row["campaign"]] = by_campaign.get(row["campaign"], Decimal(0)) + Decimal(
				str(row["credited_value"])
			)
	values = {"tf_touch_count": len(touches)}
	if touches:
		first, last = by_id[touches[0].id], by_id[touches[-1].id]
		for prefix, touch in (("tf_first_touch", first), ("tf_last_touch", last)):
			values.update(
				{
					f"{prefix}_channel": touch.channel,
					f"{prefix}_source": touch.source,
					f"{prefix}_medium": touch.medium,
					f"{prefix}_campaign": touch.link_campaign,
				}
			)
		values["tf_first_touch_at"] = first.occurred_at
		values["tf_visitor"] = next((by_id[t.id].visitor for t in touches if by_id[t.id].visitor), None)
	if by_campaign:
		values["tf_attributed_campaign"] = max(sorted(by_campaign), key=lambda c: by_campaign[c])
	values = guest.fit("CRM Summary", values)  # touch values came from guests: inert, cut to the columns
	for doctype, name in targets:
		frappe.db.set_value(doctype, name, values, update_modified=False)


def replace_credits(conversion: str, rows: list[dict]) -> None:
	"""Delete and re-insert a conversion's credit rows in the caller's transaction (atomic with it)."""
	frappe.db.delete("Attribution Credit", {"conversion": conversion})
	if not rows:
		return
	now = now_datetime()
	fields = ["name", "creation", "modified", "owner", "modified_by", *rows[0].keys()]
	values = [
		[_credit_name(conversion, row), now, now, "Administrator", "Administrator", *row.values()]
		for row in rows
	]
	# A touch's source and medium are guest text (Touchpoint holds 255 characters, the ledger 140).
	insert_rows(
		"Attribution Credit",
		fields,
		guest.fit_rows("Attribution Credit", fields, values),
		ignore_duplicates=False,
	)


def _credit_name(conversion: str, row: dict) -> str:
	# Deterministic, so a recompute gives identical rows (names included).
	key = f"{conversion}|{row['attribution_model']}|{row['touchpoint']}"
	return hashlib.sha256(key.encode()).hexdigest()[:20]


def active_models() -> list:
	return frappe.get_all(
		"Attribution Model",
		filters={"active": 1},
		fields=["name", "engine_model", "parameters", "lookback_days", "fit_data"],
		order_by="name asc",
	)


def model_spec(model, default_lookback: int):
	params = json.loads(model.parameters) if isinstance(model.parameters, str) else (model.parameters or {})
	params = {
		**params,
		"lookback_days": model.lookback_days or params.get("lookback_days") or default_lookback,
	}
	return validate_params(model.engine_model, params)


def compute_credits(doc) -> list[dict]:
	"""The ledger rows of one conversion under every active model (exact to the minor unit, per model)."""
	return _compute(doc)[0]


def ledger_models() -> list[LedgerModel]:
	"""The active Attribution Models as the engine applies them (specs validated, fits loaded)."""
	lookback = get_settings().attribution_lookback_days
	models = []
	for model in active_models():
		spec = model_spec(model, lookback)
		fit = json.loads(model.fit_data) if get_model(spec.name).data_driven and model.fit_data else None
		models.append(LedgerModel(model.name, spec, fit))
	return models


def _compute(doc) -> tuple[list[dict], list, dict]:
	"""(ledger rows, the journey as engine touchpoints within the longest lookback, rows by touchpoint):
	load the models and the journey, one engine call, rows to write."""
	models = ledger_models()
	if not models:
		return [], [], {}
	found = journey(doc, max(m.spec.get("lookback_days") for m in models))
	conversion = EngineConversion(
		doc.name, aware(doc.occurred_at), Decimal(str(flt(doc.value))), doc.currency or "USD"
	)
	company_value = Decimal(str(flt(doc.value_company_currency)))
	rows = []
	for credited in credit_models(conversion, found.touches, models, company_value, doc.company_currency):
		for credit, company_credit in zip(credited.result.credits, credited.company_values, strict=True):
			touch = found.rows[credit.touchpoint_id]
			rows.append(
				{
					"conversion": doc.name,
					"attribution_model": credited.model,
					"conversion_type": doc.conversion_type,
					"reported_by": doc.reported_by,
					"converted_at": doc.occurred_at,
					"crm_lead": doc.crm_lead,
					"crm_deal": doc.crm_deal,
					"touchpoint": touch.name,
					"touched_at": touch.occurred_at,
					"channel": credit.channel,
					"campaign": touch.link_campaign,
					"source": touch.source,
					"medium": touch.medium,
					"weight": credit.weight,
					"credited_value": credit.value,
					"currency": doc.currency,
					"credited_value_company": company_credit,
					"company_currency": doc.company_currency,
					"engine_version": ENGINE_VERSION,
					"model_spec": str(credited.spec),
					"params_hash": credited.params_hash,
				}
			)
	return rows, found.touches, found.rows


def retry_failed(limit: int = 500) -> int:
	"""Hourly: attribute conversions still pending, or in error and due for another attempt."""
	conversion = frappe.qb.DocType("Conversion")
	due = (
		frappe.qb.from_(conversion)
		.select(conversion.name)
		.where(
			(conversion.status == "pending")
			| (
				(conversion.status == "error")
				& (conversion.attempts < MAX_ATTEMPTS)
				& ((conversion.next_attempt_at.isnull()) | (conversion.next_attempt_at <= now_datetime()))
			)
		)
		.limit(limit)
		.run(pluck=True)
	)
	for name in due:
		enqueue_attribution(name)
	return len(due)
