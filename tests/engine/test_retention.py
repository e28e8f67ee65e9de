"""Retention planning: cutoffs per table, 0 = forever, batches, ledger-referenced touchpoints, stale visitors, erasure."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine.errors import ValidationError
from trackflow.engine.retention import (
	ANONYMISE_FIELDS,
	RETENTION_TABLES,
	Anonymise,
	erase_plan,
	keep_referenced,
	plan_purge,
	purge_batches,
	retention_days,
	stale_visitors,
)

NOW = datetime(2026, 6, 30, 3, 0, tzinfo=timezone.utc)
DEFAULTS = {"events": 395, "sessions": 395, "clicks": 395, "touchpoints": 730}


def test_default_settings_plan():
	plan = plan_purge(retention_days({}), NOW)
	assert [(s.table, s.doctype, NOW - s.cutoff, s.batch_size) for s in plan.steps] == [
		("events", "TrackFlow Event", timedelta(days=395), 1000),
		("sessions", "TrackFlow Session", timedelta(days=395), 1000),
		("clicks", "Click Event", timedelta(days=395), 1000),
		("touchpoints", "Touchpoint", timedelta(days=730), 1000),
		("visitors", "TrackFlow Visitor", timedelta(days=395), 1000),
	]
	assert plan.kept_forever == ()
	assert plan.step("clicks").time_field == "creation"


def test_settings_fields_map_to_tables():
	settings = {"click_retention_days": 30, "event_retention_days": 90, "session_retention_days": "", "x": 1}
	assert retention_days(settings) == {"events": 90, "sessions": 395, "clicks": 30, "touchpoints": 730}


def test_zero_keeps_a_table_forever():
	plan = plan_purge(DEFAULTS | {"clicks": 0, "touchpoints": 0}, NOW)
	assert [s.table for s in plan.steps] == ["events", "sessions"]  # clicks forever: visitors kept too
	assert plan.kept_forever == ("clicks", "touchpoints")
	assert plan.step("clicks") is None


def test_visitor_window_is_the_longest_raw_window():
	plan = plan_purge({"events": 30, "sessions": 90, "clicks": 60, "touchpoints": 0}, NOW, batch_size=250)
	assert NOW - plan.step("visitors").cutoff == timedelta(days=90)
	assert plan.step("visitors").time_field == "last_seen"
	assert {s.batch_size for s in plan.steps} == {250}
	assert plan.kept_forever == ("touchpoints",)


def test_missing_or_none_take_defaults():
	assert plan_purge({"clicks": None}, NOW) == plan_purge(DEFAULTS, NOW)


def test_naive_now_gives_naive_cutoffs():
	naive = datetime(2026, 6, 30)
	assert plan_purge(DEFAULTS, naive).step("events").cutoff == datetime(2025, 5, 31)


@pytest.mark.parametrize(
	"retention, batch, message",
	[
		({"clicks": -1}, 1000, "0 \\(keep forever\\) or between 1 and 36500"),
		({"clicks": 40000}, 1000, "Clicks"),
		({"clicks": 3.5}, 1000, "Clicks"),
		({"clicks": True}, 1000, "Clicks"),
		({"ledger": 10}, 1000, "No retention rule for ledger"),
		({}, 0, "batch size"),
		({}, 10**6, "batch size"),
	],
)
def test_invalid_settings(retention, batch, message):
	with pytest.raises(ValidationError, match=message):
		plan_purge(retention, NOW, batch_size=batch)


def test_tables_have_settings_bounds():
	from trackflow.engine.settings import INT_BOUNDS

	assert all(INT_BOUNDS[t.settings_field].zero_means_forever for t in RETENTION_TABLES)


# --- batches -------------------------------------------------------------------------------------


def test_purge_batches_oldest_first_before_cutoff():
	cutoff = NOW - timedelta(days=10)
	rows = [
		("c", NOW - timedelta(days=11)),
		("a", NOW - timedelta(days=30)),
		("new", NOW - timedelta(days=1)),
		("edge", cutoff),  # not before the cutoff: kept
		("b", NOW - timedelta(days=11)),  # same time as "c": ordered by id
		("d", NOW - timedelta(days=20)),
	]
	assert purge_batches(rows, cutoff, batch_size=2) == [("a", "d"), ("b", "c")]
	assert purge_batches(rows, cutoff, batch_size=10) == [("a", "d", "b", "c")]
	assert purge_batches([], cutoff) == []
	with pytest.raises(ValidationError):
		purge_batches(rows, cutoff, 0)


@given(
	st.lists(st.tuples(st.integers(0, 100), st.integers(0, 60)), unique_by=lambda r: r[0]), st.integers(1, 7)
)
def test_batches_cover_exactly_the_expired_rows(rows, batch_size):
	rows = [(f"r{i}", NOW - timedelta(days=age)) for i, age in rows]
	cutoff = NOW - timedelta(days=30)
	batches = purge_batches(rows, cutoff, batch_size)
	flat = [name for batch in batches for name in batch]
	assert sorted(flat) == sorted(name for name, created in rows if created < cutoff)
	assert all(1 <= len(b) <= batch_size for b in batches)
	created = dict(rows)
	assert [created[n] for n in flat] == sorted(created[n] for n in flat)


# --- the ledger keeps its touchpoints ------------------------------------------------------------


def test_referenced_touchpoints_are_kept():
	split = keep_referenced(["t1", "t2", "t3", "t2", "t4"], {"t2", "t4", "t9"})
	assert split.delete == ("t1", "t3")
	assert split.keep == ("t2", "t4")


@given(st.lists(st.sampled_from("abcdefgh")), st.sets(st.sampled_from("abcdefgh")))
def test_no_referenced_touchpoint_is_ever_deleted(ids, referenced):
	split = keep_referenced(ids, referenced)
	assert not set(split.delete) & referenced
	assert set(split.delete) | set(split.keep) == set(ids)


# --- stale visitors ------------------------------------------------------------------------------


def test_stale_visitors():
	cutoff = NOW - timedelta(days=395)
	old, recent = NOW - timedelta(days=400), NOW - timedelta(days=10)
	visitors = [
		{"name": "gone", "crm_lead": None, "last_seen": old},
		{"name": "lead", "crm_lead": "CRM-LEAD-1", "last_seen": old},  # identified: never stale
		{"name": "active", "crm_lead": "", "last_seen": recent},
		{"name": "still referenced", "crm_lead": None, "last_seen": old},
		{"name": "first seen only", "crm_lead": None, "last_seen": None, "first_seen": old},
		{"name": "creation only", "crm_lead": None, "creation": old},
		{"name": "no dates", "crm_lead": None},
	]
	assert stale_visitors(visitors, cutoff, referenced_ids=["still referenced"]) == (
		"gone",
		"first seen only",
		"creation only",
	)


# --- erasure -------------------------------------------------------------------------------------


def test_erase_plan():
	plan = erase_plan(
		"v1",
		sessions=["s1", "s2"],
		events=["e1", "e2", "e3"],
		touchpoints=["t1", "t2", "t3"],
		clicks=["c1"],
		conversions=["CONV-1"],
		referenced_touchpoints={"t2", "t99"},
	)
	assert plan.delete == {
		"events": ("e1", "e2", "e3"),
		"sessions": ("s1", "s2"),
		"touchpoints": ("t1", "t3"),
		"visitors": ("v1",),
	}
	assert plan.anonymise == (
		Anonymise(
			"touchpoints", "Touchpoint", ("t2",), ("visitor", "session", "referrer", "click_ids", "notes")
		),
		Anonymise("clicks", "Click Event", ("c1",), ("visitor_id", "ip_prefix", "referrer", "user_agent")),
		Anonymise("conversions", "Conversion", ("CONV-1",), ("visitor",)),
	)
	assert plan.deleted_count() == 8


def test_erase_plan_for_a_visitor_with_nothing_else():
	plan = erase_plan("v1")
	assert plan.delete == {"visitors": ("v1",)} and plan.anonymise == ()
	with pytest.raises(ValidationError, match="visitor"):
		erase_plan("")


def test_erasure_never_touches_the_ledger_or_counters():
	tables = {"touchpoints", "clicks", "conversions"}
	assert set(ANONYMISE_FIELDS) == tables
	identifying = {"visitor", "visitor_id", "ip_prefix", "referrer", "user_agent", "click_ids"}
	assert identifying <= {f for fields in ANONYMISE_FIELDS.values() for f in fields}
	plan = erase_plan("v", touchpoints=["t"], referenced_touchpoints=["t"], clicks=["c"])
	assert "touchpoints" not in plan.delete and "clicks" not in plan.delete


def test_anonymised_fields_exist_on_their_doctypes():
	import json
	from pathlib import Path

	from trackflow.engine.retention import TABLE_DOCTYPES

	root = Path(__file__).resolve().parents[2] / "trackflow/trackflow/doctype"
	for table, fields in ANONYMISE_FIELDS.items():
		doctype = TABLE_DOCTYPES[table]
		data = json.loads(
			(
				root / doctype.lower().replace(" ", "_") / f"{doctype.lower().replace(' ', '_')}.json"
			).read_text()
		)
		assert set(fields) <= {f["fieldname"] for f in data["fields"]}, table
