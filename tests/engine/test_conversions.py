"""Conversion rules, CRM schema differences, identity resolution and milestone mapping."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from trackflow.engine.attribution.types import Touchpoint
from trackflow.engine.conversions import check_conversion, deal_fields, journey_rows, mark_milestones
from trackflow.engine.crm_schema import default_status_mapping
from trackflow.engine.errors import ValidationError
from trackflow.engine.settings import validate_settings

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def touch(id_: str, hours_before: float, channel: str = "email") -> Touchpoint:
	return Touchpoint(id_, NOW - timedelta(hours=hours_before), channel)


def test_purchase_needs_a_positive_value():
	with pytest.raises(ValidationError, match="purchase needs a value"):
		check_conversion("purchase", None, "EUR", NOW, NOW)
	with pytest.raises(ValidationError, match="purchase needs a value"):
		check_conversion("purchase", Decimal(0), "EUR", NOW, NOW)
	assert check_conversion("purchase", Decimal("9.99"), "EUR", NOW, NOW).flagged is False


def test_value_precision_follows_the_currency():
	with pytest.raises(ValidationError, match="2 decimal places"):
		check_conversion("custom", Decimal("1.234"), "EUR", NOW, NOW)
	with pytest.raises(ValidationError, match="0 decimal places"):
		check_conversion("custom", Decimal("10.5"), "JPY", NOW, NOW)
	check_conversion("custom", Decimal("1.234"), "KWD", NOW, NOW)
	with pytest.raises(ValidationError, match="negative"):
		check_conversion("custom", Decimal("-1"), "EUR", NOW, NOW)


def test_future_times_and_unknown_types_are_refused_and_valued_signups_flagged():
	check_conversion("signup", None, None, NOW + timedelta(minutes=4), NOW)
	with pytest.raises(ValidationError, match="in the future"):
		check_conversion("signup", None, None, NOW + timedelta(minutes=6), NOW)
	with pytest.raises(ValidationError, match="Conversion type must be one of"):
		check_conversion("sale", None, None, NOW, NOW)
	check = check_conversion("signup", Decimal("5"), "USD", NOW, NOW)
	assert check.flagged and "signup" in check.reason


def test_deal_fields_per_crm_version():
	recent = deal_fields(["deal_value", "exchange_rate", "closed_date", "annual_revenue", "status"])
	assert (recent.value, recent.exchange_rate, recent.close_date) == (
		"deal_value",
		"exchange_rate",
		"closed_date",
	)
	old = deal_fields(["annual_revenue", "close_date", "status"])
	assert (old.value, old.exchange_rate, old.close_date) == ("annual_revenue", None, "close_date")


def test_status_mapping_by_type_or_by_name():
	recent = default_status_mapping(
		[
			{"name": "Won", "type": "Won"},
			{"name": "Closed Won", "type": "Won"},
			{"name": "Lost", "type": "Lost"},
		],
		[{"name": "Qualified", "type": "Won"}, {"name": "New", "type": "Open"}],
	)
	assert recent.won_deal_statuses == ("Won", "Closed Won")
	assert recent.lost_deal_statuses == ("Lost",)
	assert recent.qualified_lead_statuses == ("Qualified",)
	old = default_status_mapping(
		[{"name": "Won"}, {"name": "Lost"}, {"name": "Negotiation"}], [{"name": "Qualified"}]
	)
	assert (old.won_deal_statuses, old.lost_deal_statuses, old.qualified_lead_statuses) == (
		("Won",),
		("Lost",),
		("Qualified",),
	)


def test_journey_rows_union_of_visitors_leads_and_deals_each_once():
	rows = [
		{"name": "t1", "visitor": "v1"},
		{"name": "t2", "visitor": "v2"},  # another device of the same lead
		{"name": "t3", "crm_lead": "L1"},  # an offline touch logged on the lead
		{"name": "t4", "crm_deal": "D1", "visitor": "v1"},
		{"name": "t1", "visitor": "v1"},  # a duplicate row from two matching conditions
		{"name": "t5", "visitor": "stranger"},
	]
	journey = journey_rows(rows, visitors={"v1", "v2"}, leads={"L1"}, deals={"D1"})
	assert [r["name"] for r in journey] == ["t1", "t2", "t3", "t4"]


def test_milestones_go_to_the_last_touch_before_each_event():
	touches = [touch("c", 1), touch("a", 30), touch("b", 10)]
	marked = mark_milestones(
		touches, lead_created=NOW - timedelta(hours=20), deal_created=NOW - timedelta(hours=5), won_at=NOW
	)
	assert [t.id for t in marked] == ["a", "b", "c"]
	assert [sorted(t.milestones) for t in marked] == [["lead"], ["opportunity"], ["won"]]


def test_milestones_merge_and_missing_ones_stay_unset():
	touches = [touch("a", 30), touch("b", 10)]
	marked = mark_milestones(
		touches, lead_created=NOW - timedelta(hours=2), deal_created=NOW - timedelta(hours=1)
	)
	assert [sorted(t.milestones) for t in marked] == [[], ["lead", "opportunity"]]
	assert [t.milestones for t in mark_milestones(touches, lead_created=NOW - timedelta(hours=40))] == [
		frozenset(),
		frozenset(),
	]


def test_settings_bounds():
	validate_settings(
		{"cookie_lifetime_days": 400, "click_retention_days": 0, "hot_threshold": 75, "warm_threshold": 50}
	)
	with pytest.raises(ValidationError, match="Visitor Cookie Lifetime"):
		validate_settings({"cookie_lifetime_days": 401})
	with pytest.raises(ValidationError, match="or 0 to keep forever"):
		validate_settings({"event_retention_days": -1})
	with pytest.raises(ValidationError, match="must be above Warm"):
		validate_settings({"hot_threshold": 50, "warm_threshold": 50})
	with pytest.raises(ValidationError, match="both won and lost"):
		validate_settings({"won_deal_statuses": ["Won"], "lost_deal_statuses": ["Won"]})
	with pytest.raises(ValidationError, match="Consent Mode"):
		validate_settings({"consent_mode": "maybe"})
	validate_settings({"forwarding_max_attempts": 20})
	with pytest.raises(ValidationError, match="Maximum Delivery Attempts must be between 1 and 20, not 0"):
		validate_settings({"forwarding_max_attempts": 0})


def test_funnel_stages_and_exits_in_both_crm_versions():
	from trackflow.engine.crm_schema import funnel_stages

	old = [
		{"name": "Junk", "position": 6},
		{"name": "New", "position": 1},
		{"name": "Qualified", "position": 4},
		{"name": "Contacted", "position": 2},
		{"name": "Unqualified", "position": 5},
		{"name": "Nurture", "position": 3},
	]
	assert funnel_stages(old, ["Qualified"]) == (
		("New", "Contacted", "Nurture", "Qualified"),
		("Unqualified", "Junk"),
	)
	assert funnel_stages(old) == (("New", "Contacted", "Nurture", "Qualified", "Unqualified", "Junk"), ())
	recent = [
		{"name": "New", "type": "Open", "position": 1},
		{"name": "Junk", "type": "Lost", "position": 7},
		{"name": "Qualified", "type": "Won", "position": 4},
		{"name": "Nurture", "type": "On Hold", "position": 3},
	]
	assert funnel_stages(recent, ["Qualified"]) == (("New", "Nurture", "Qualified"), ("Junk",))


def test_crm_181_converted_is_the_same_funnel_stage_as_qualified():
	from trackflow.engine.crm_schema import funnel_aliases, funnel_stages

	stock_181 = [
		{"name": "New", "type": "Open", "position": 1},
		{"name": "Contacted", "type": "Ongoing", "position": 2},
		{"name": "Nurture", "type": "On Hold", "position": 3},
		{"name": "Qualified", "type": "Won", "position": 4},
		{"name": "Converted", "type": "Won", "position": 5},
		{"name": "Unqualified", "type": "Lost", "position": 6},
		{"name": "Junk", "type": "Lost", "position": 7},
	]
	assert funnel_stages(stock_181) == (
		("New", "Contacted", "Nurture", "Qualified"),
		("Unqualified", "Junk"),
	)
	assert funnel_aliases(stock_181) == {"Converted": "Qualified"}
	assert funnel_aliases([{"name": "Qualified", "position": 4}]) == {}
