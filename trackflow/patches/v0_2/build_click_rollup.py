"""Campaign Performance reads Link Click Day (written by the click drain since 0.2): fill it from the
clicks stored before, and drop the wide Click Event index it replaces."""

import frappe

from trackflow.clicks import rebuild_click_rollup


def execute():
	if frappe.db.has_index("tabClick Event", "campaign_time_visitor"):
		frappe.db.sql_ddl("ALTER TABLE `tabClick Event` DROP INDEX `campaign_time_visitor`")
	rebuild_click_rollup()
