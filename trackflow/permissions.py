"""Who may use TrackFlow: role names, the app-screen check, and the row rule that makes TrackFlow's
journey and ledger rows follow CRM: a row that belongs to a CRM Lead or Deal is readable by whoever may
read that lead or deal (CRM's roles, its permission hooks, the site's and User Permissions decide); rows
that belong to neither are for TrackFlow's managers alone."""

import frappe
from pypika.terms import Criterion

TRACKFLOW_MANAGER = "TrackFlow Manager"
CAMPAIGN_MANAGER = "Campaign Manager"
# Machine users of a shop or backend: send server-side events (trackflow.api.tracking.track_event), nothing else.
TRACKFLOW_INTEGRATION = "TrackFlow Integration"
# CRM's sales roles read TrackFlow's journeys and reports about the leads and deals they can see.
APP_ROLES = frozenset({TRACKFLOW_MANAGER, CAMPAIGN_MANAGER, "Sales Manager", "Sales User", "System Manager"})
# They read every TrackFlow row, whoever's lead it belongs to (and rows of no lead: anonymous traffic).
MANAGER_ROLES = frozenset({TRACKFLOW_MANAGER, CAMPAIGN_MANAGER, "System Manager"})

# How a row reaches the CRM documents it belongs to: its own lead and deal columns, and the visitor
# column through which it belongs to that visitor's lead (a touch of a visitor identified later).
CRM_ROWS = {
	"TrackFlow Visitor": {"lead": "crm_lead"},
	"TrackFlow Session": {"visitor": "visitor"},
	"TrackFlow Event": {"visitor": "visitor"},
	"Touchpoint": {"lead": "crm_lead", "deal": "crm_deal", "visitor": "visitor"},
	"Conversion": {"lead": "crm_lead", "deal": "crm_deal", "visitor": "visitor"},
	"Attribution Credit": {"lead": "crm_lead", "deal": "crm_deal"},
	"Lead Score History": {"lead": "crm_lead"},
	"Lead Score Adjustment": {"lead": "crm_lead"},
	"Lead Activity Summary": {"lead": "crm_lead"},
}
NOTHING = "1=0"


def has_app_permission() -> bool:
	"""The `add_to_apps_screen` check: show the TrackFlow tile to users with any TrackFlow or sales role."""
	if frappe.session.user == "Administrator":
		return True
	return not APP_ROLES.isdisjoint(frappe.get_roles())


def is_manager(user: str | None = None) -> bool:
	user = user or frappe.session.user
	return user == "Administrator" or not MANAGER_ROLES.isdisjoint(frappe.get_roles(user))


# --- the list rule (permission_query_conditions) ---------------------------------------------------


def query_conditions(user: str | None = None, doctype: str | None = None) -> str:
	"""The `permission_query_conditions` hook of every CRM_ROWS doctype: "" for managers, else the rows
	whose lead or deal the user may read, as subqueries over CRM's own list conditions (one query, no
	per-row checks)."""
	user = user or frappe.session.user
	if is_manager(user):
		return ""
	return row_condition(doctype, user)


def row_condition(doctype: str, user: str, table: str | None = None) -> str:
	"""SQL condition on `tab<doctype>` (or `table`) true for the rows `user` may read by the CRM rule."""
	column = f"`{table or 'tab' + doctype}`.`{{}}`"
	parts = []
	route = CRM_ROWS[doctype]
	leads = readable_names_sql("CRM Lead", user)
	if route.get("lead") and leads:
		parts.append(f"{column.format(route['lead'])} in ({leads})")
	if route.get("deal") and (deals := readable_names_sql("CRM Deal", user)):
		parts.append(f"{column.format(route['deal'])} in ({deals})")
	if route.get("visitor") and leads:
		visitors = f"select `tabTrackFlow Visitor`.`name` from `tabTrackFlow Visitor` where `tabTrackFlow Visitor`.`crm_lead` in ({leads})"
		parts.append(f"{column.format(route['visitor'])} in ({visitors})")
	return "(" + " or ".join(parts) + ")" if parts else NOTHING


def row_criterion(doctype: str, user: str | None = None) -> Criterion | None:
	"""row_condition for frappe.qb queries over `tab<doctype>` (unaliased); None for managers."""
	user = user or frappe.session.user
	if is_manager(user):
		return None
	return RawCriterion(row_condition(doctype, user))


def readable_names_sql(doctype: str, user: str) -> str | None:
	"""A SELECT of the names of `doctype` (CRM Lead / CRM Deal) the user may read, built by Frappe's list
	machinery (role permissions, User Permissions, permission_query_conditions hooks, shares), or None
	when they may read none."""
	from frappe.model.db_query import DatabaseQuery

	table = f"`tab{doctype}`"
	shared = frappe.share.get_shared(doctype, user)
	shared_sql = ", ".join(frappe.db.escape(name, percent=False) for name in shared)
	role_permissions = frappe.permissions.get_role_permissions(frappe.get_meta(doctype), user=user)
	if not (role_permissions.get("read") or role_permissions.get("select")):
		return (
			f"select {table}.`name` from {table} where {table}.`name` in ({shared_sql})" if shared else None
		)
	conditions = DatabaseQuery(doctype, user=user).build_match_conditions()
	if conditions and shared:
		conditions = f"({conditions}) or {table}.`name` in ({shared_sql})"
	return f"select {table}.`name` from {table}" + (f" where {conditions}" if conditions else "")


class RawCriterion(Criterion):
	"""A ready SQL condition (built by Frappe's permission machinery) as a pypika criterion."""

	def __init__(self, sql: str):
		super().__init__()
		self.sql = sql

	def get_sql(self, **kwargs) -> str:
		return self.sql


# --- the document rule (has_permission) ------------------------------------------------------------


def has_permission(doc, ptype: str | None = None, user: str | None = None) -> bool | None:
	"""The `has_permission` hook of every CRM_ROWS doctype: managers as their roles allow (None lets
	Frappe decide); anyone else only where they may read the row's lead or deal."""
	user = user or frappe.session.user
	if is_manager(user) or ptype == "create":
		return None
	route = CRM_ROWS[doc.doctype]
	lead = doc.get(route["lead"]) if route.get("lead") else None
	deal = doc.get(route["deal"]) if route.get("deal") else None
	if deal and frappe.has_permission("CRM Deal", "read", doc=deal, user=user):
		return True
	if lead and frappe.has_permission("CRM Lead", "read", doc=lead, user=user):
		return True
	visitor = doc.get(route["visitor"]) if route.get("visitor") else None
	visitor_lead = visitor and frappe.db.get_value("TrackFlow Visitor", visitor, "crm_lead")
	if visitor_lead and visitor_lead != lead:
		return bool(frappe.has_permission("CRM Lead", "read", doc=visitor_lead, user=user))
	return False


def require_roles(*roles: str) -> None:
	"""PermissionError unless the session user is Administrator or has one of `roles`. Unlike
	`frappe.only_for`, this also holds under tests (Frappe skips only_for there), so tests prove it."""
	if frappe.session.user != "Administrator" and set(roles).isdisjoint(frappe.get_roles()):
		frappe.throw(frappe._("Not permitted"), frappe.PermissionError)
