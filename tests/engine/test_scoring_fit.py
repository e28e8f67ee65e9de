"""Fit rules: operators on CRM Lead fields (1.34 and 1.81 names), free-mail domains, rows and previews."""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine.errors import ValidationError
from trackflow.engine.scoring_fit import (
	FIT_OPERATORS,
	FIT_RULE_FIELDS,
	FitRule,
	email_domain,
	fit_matches,
	fit_rule_from_row,
	free_mail_domains,
	is_free_mail,
	number,
	preview_fit,
)

DOCTYPE = (
	Path(__file__).resolve().parents[2]
	/ "trackflow/trackflow/doctype/lead_scoring_rule/lead_scoring_rule.json"
)
# CRM Lead's fields as CRM's meta gives them (fieldname: fieldtype, options), copied from Frappe 15.55.1 with
# CRM 1.34.14 and 1.81.1: the fields fit rules are written on have the same names and types in both.
LEAD_FIELDS_1_34 = {
	"organization": ("Data", None),
	"website": ("Data", None),
	"territory": ("Link", "CRM Territory"),
	"industry": ("Link", "CRM Industry"),
	"job_title": ("Data", None),
	"source": ("Link", "CRM Lead Source"),
	"first_name": ("Data", None),
	"last_name": ("Data", None),
	"email": ("Data", "Email"),
	"mobile_no": ("Data", "Phone"),
	"phone": ("Data", "Phone"),
	"status": ("Link", "CRM Lead Status"),
	"no_of_employees": ("Select", "1-10\n11-50\n51-200\n201-500\n501-1000\n1000+"),
	"annual_revenue": ("Currency", None),
}
LEAD_FIELDS_1_81 = dict(LEAD_FIELDS_1_34)  # 1.81 adds products, totals, lost_reason..., renames none of these
EMPLOYEE_BANDS = LEAD_FIELDS_1_34["no_of_employees"][1].split("\n")


def lead(**fields) -> dict:
	"""A CRM Lead as frappe.get_all returns it: every field present, unset ones blank or 0."""
	blank = {
		name: 0.0 if fieldtype == "Currency" else None for name, (fieldtype, _) in LEAD_FIELDS_1_34.items()
	}
	return {"name": "CRM-LEAD-2026-00001"} | blank | fields


@pytest.mark.parametrize("version_fields", [LEAD_FIELDS_1_34, LEAD_FIELDS_1_81], ids=["crm-1.34", "crm-1.81"])
def test_every_operator_on_the_lead_fields_of_both_crm_versions(version_fields):
	assert {"email", "industry", "no_of_employees", "annual_revenue", "territory"} <= set(version_fields)
	acme = lead(
		email="Jane@Acme.io",
		industry="Technology",
		territory="India",
		no_of_employees="51-200",
		annual_revenue=2_500_000.0,
		website="https://www.acme.io/about",
		job_title="VP Sales",
	)
	rules = [
		FitRule("tech", "industry", "equals", 10, "technology"),
		FitRule("apac", "territory", "in_list", 5, "India, Singapore\nJapan"),
		FitRule("title", "job_title", "is_set", 2),
		FitRule("company", "email", "not_free_mail", 10),
		FitRule("site", "website", "not_free_mail", 3),
		FitRule("mid", "no_of_employees", "greater_than", 15, "50"),
		FitRule("revenue", "annual_revenue", "greater_than", 8, "1,000,000"),
		FitRule("phone", "mobile_no", "is_set", 1),
	]
	assert all(rule.field in version_fields for rule in rules)
	matched = fit_matches(acme, rules)
	assert [m.rule for m in matched] == ["tech", "apac", "title", "company", "site", "mid", "revenue"]
	assert [m.text for m in matched] == [
		"industry is Technology",
		"territory is India",
		"job title given",
		"company email domain (acme.io)",
		"company website domain (acme.io)",
		"employees above 50 (51-200)",
		"annual revenue above 1,000,000 (2500000)",
	]
	gmail = lead(email="jane@gmail.com", no_of_employees="11-50", industry="Retail")
	assert fit_matches(gmail, rules) == []


@pytest.mark.parametrize(
	"band, above_10, above_50, above_1000",
	[
		("1-10", False, False, False),
		("11-50", True, False, False),
		("51-200", True, True, False),
		("201-500", True, True, False),
		("501-1000", True, True, False),
		("1000+", True, True, False),
	],
)
def test_employee_bands_compare_by_their_lower_bound(band, above_10, above_50, above_1000):
	assert band in EMPLOYEE_BANDS
	fields = lead(no_of_employees=band)
	assert FitRule("r", "no_of_employees", "greater_than", 1, "10").matches(fields) is above_10
	assert FitRule("r", "no_of_employees", "greater_than", 1, "50").matches(fields) is above_50
	assert FitRule("r", "no_of_employees", "greater_than", 1, "1000").matches(fields) is above_1000
	assert FitRule("r", "no_of_employees", "greater_than", 1, "999").matches(fields) is (band == "1000+")


def test_numbers():
	assert number("51-200") == 51 and number("1000+") == 1000 and number(" 1,500 ") == 1500
	assert number("1 \u2013 10") == 1 and number("10 to 20") == 10 and number(7) == 7.0
	assert number("many") is None and number(True) is None and number(None) is None and number("") is None
	assert number(float("nan")) is None


def test_equals_ignores_case_and_space_and_compares_numbers_as_numbers():
	assert FitRule("r", "industry", "equals", 1, " Technology ").matches(lead(industry="TECHNOLOGY"))
	assert FitRule("r", "annual_revenue", "equals", 1, "50").matches(lead(annual_revenue=50.0))
	assert not FitRule("r", "annual_revenue", "equals", 1, "fifty").matches(lead(annual_revenue=50.0))
	assert not FitRule("r", "industry", "equals", 1, "Tech").matches(lead(industry=None))
	assert not FitRule("r", "industry", "equals", 1, "Tech").matches({})  # a field the lead lacks


def test_is_set_follows_frappe_blanks():
	rule = FitRule("r", "annual_revenue", "is_set", 1)
	assert not rule.matches(lead())  # unset Currency is 0
	assert rule.matches(lead(annual_revenue=10.0))
	assert not FitRule("r", "phone", "is_set", 1).matches(lead(phone="   "))


@pytest.mark.parametrize(
	"value, domain",
	[
		("jane@acme.io", "acme.io"),
		(" Jane@ACME.io ", "acme.io"),
		("https://www.acme.io/x?y", "acme.io"),
		("acme.io", "acme.io"),
		("www.acme.co.uk", "acme.co.uk"),
		("jane@localhost", None),
		("not an email", None),
		("", None),
		(None, None),
		(42, None),
	],
)
def test_email_domain(value, domain):
	assert email_domain(value) == domain


def test_free_mail_list_and_parent_domains():
	free = free_mail_domains()
	assert len(free) > 4000 and {"gmail.com", "yahoo.co.uk", "outlook.com", "proton.me", "hey.com"} <= free
	assert all(d == d.strip().lower() and "." in d and " " not in d for d in free)
	assert is_free_mail("gmail.com") and is_free_mail("uk.yahoo.com") and not is_free_mail("acme.io")
	rule = FitRule("r", "email", "not_free_mail", 10)
	assert not rule.matches(lead(email="a@gmail.com")) and not rule.matches(lead(email="A@GoogleMail.com"))
	assert not rule.matches(lead(email=None)) and not rule.matches(lead(email="nobody"))
	assert rule.matches(lead(email="a@frappe.io"))


@pytest.mark.parametrize(
	"kwargs, message",
	[
		({"field": "Industry Name"}, "CRM Lead fieldname"),
		({"field": ""}, "CRM Lead fieldname"),
		({"operator": "contains"}, "operator must be one of"),
		({"operator": "equals", "value": " "}, "needs a value"),
		({"operator": "greater_than", "value": "big"}, "needs a number"),
		({"points": "5"}, "finite"),
		({"id": ""}, "needs a name"),
	],
)
def test_invalid_fit_rules_are_rejected(kwargs, message):
	args = {"id": "r", "field": "industry", "operator": "is_set", "points": 1} | kwargs
	with pytest.raises(ValidationError, match=message):
		FitRule(**args)


def test_values_are_normalised():
	assert FitRule("r", "industry", "is_set", 1, value="ignored").value is None
	assert FitRule("r", "territory", "in_list", 1, " India ,, Japan\n").value == "India\nJapan"


def test_fit_rule_from_row_and_the_doctype():
	row = {
		"name": "Tech",
		"rule_name": "Tech",
		"active": 1,
		"rule_type": "fit",
		"lead_field": " industry ",
		"operator": "equals",
		"value": "Technology",
		"points": 10.0,
	}
	assert fit_rule_from_row(row) == FitRule("Tech", "industry", "equals", 10.0, "Technology")
	assert not fit_rule_from_row(row | {"active": 0}).active
	doctype = json.loads(DOCTYPE.read_text())
	fields = {f["fieldname"]: f for f in doctype["fields"]}
	assert set(FIT_RULE_FIELDS) - {"name"} <= set(fields)
	assert tuple(fields["operator"]["options"].split("\n")) == ("", *FIT_OPERATORS)


def test_preview_scores_a_few_leads_with_one_rule_even_inactive():
	rule = FitRule("company", "email", "not_free_mail", 10, active=False)
	leads = [lead(name=f"L{i}", email=email) for i, email in enumerate(["a@acme.io", "b@gmail.com", None])]
	previews = preview_fit(leads, [rule])
	assert [(p.lead, p.points) for p in previews] == [("L0", 10.0), ("L1", 0.0), ("L2", 0.0)]
	assert previews[0].matches[0].text == "company email domain (acme.io)"
	assert fit_matches(leads[0], [rule]) == []  # inactive rules score nothing outside a preview


@given(
	st.dictionaries(
		st.sampled_from(sorted(LEAD_FIELDS_1_34)),
		st.none() | st.text(max_size=20) | st.integers(-5, 10**6) | st.floats(allow_nan=True),
	),
	st.sampled_from(FIT_OPERATORS),
)
def test_operators_never_raise_on_any_field_value(fields, operator):
	for fieldname in LEAD_FIELDS_1_34:
		value = "50" if operator in ("equals", "in_list", "greater_than") else None
		assert isinstance(FitRule("r", fieldname, operator, 1, value).matches(fields), bool)
