"""Lead fit: rules on a CRM Lead's own fields (industry is X, more than 50 employees, a company email), each
worth points when the lead matches, evaluated on a plain dict of the lead's fields.

A fit rule is a Lead Scoring Rule of rule type "fit": `lead_field` (a CRM Lead fieldname; the same names on
CRM 1.34 and 1.81: email, mobile_no, phone, organization, website, industry, territory, no_of_employees,
annual_revenue, source, status, job_title, first_name, last_name, and custom fields), `operator`, `value`
and `points`. Operators:

- equals: the field's text equals the value, ignoring case and surrounding space; numbers compare as
  numbers ("50" equals 50.0).
- in_list: equals one of the values, given one a line or separated by commas.
- is_set: the field is filled (not empty text, not None, not Frappe's unset numeric 0).
- not_free_mail: the field holds an email address, a website or a bare domain whose domain (or a parent of
  it) is not a free-mail provider (data/free_mail_domains.txt: gmail.com, yahoo.co.uk, ...). Empty, or no
  domain with a dot: no match.
- greater_than: the field's number is above the value. A band such as CRM's no_of_employees "51-200"
  counts as its lower bound (51), "1000+" as 1000; "1,500" as 1500; text that is no number never matches.
"""

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from trackflow.engine.errors import ValidationError
from trackflow.engine.scoring import _blank, _filled, _finite

FIT_OPERATORS = ("equals", "in_list", "is_set", "not_free_mail", "greater_than")
OPERATORS_WITH_VALUE = ("equals", "in_list", "greater_than")
FREE_MAIL_FILE = Path(__file__).resolve().parent / "data" / "free_mail_domains.txt"
_FIELDNAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:(?:-|\u2013|to)\s*\d+(?:\.\d+)?|\+)?\s*$")
# How a reason names a CRM Lead field ("+10 company email domain", "+5 employees above 50 (51-200)").
FIELD_LABELS = {
	"email": "email",
	"mobile_no": "mobile number",
	"phone": "phone",
	"organization": "organisation",
	"website": "website",
	"industry": "industry",
	"territory": "territory",
	"no_of_employees": "employees",
	"annual_revenue": "annual revenue",
	"source": "source",
	"status": "status",
	"job_title": "job title",
	"first_name": "first name",
	"last_name": "last name",
}


@lru_cache(maxsize=1)
def free_mail_domains() -> frozenset[str]:
	"""The free-mail domains shipped in data/free_mail_domains.txt (lowercase; comments and blanks skipped)."""
	lines = FREE_MAIL_FILE.read_text(encoding="utf-8").splitlines()
	return frozenset(s.strip().lower() for s in lines if s.strip() and not s.lstrip().startswith("#"))


def email_domain(value) -> str | None:
	"""The domain of an email address, URL or bare domain, lowercase without "www."; None when there is none."""
	if _blank(value) or not isinstance(value, str):
		return None
	text = value.strip().lower()
	if "@" in text:
		host = text.rsplit("@", 1)[1]
	else:
		host = urlsplit(text if "//" in text else "//" + text).hostname or ""
	host = host.strip().strip(".").removeprefix("www.")
	if "." not in host or not re.fullmatch(r"[a-z0-9.-]+", host):
		return None
	return host


def is_free_mail(domain: str) -> bool:
	"""True when the domain or any parent of it (uk.yahoo.com -> yahoo.com) is a free-mail provider."""
	free = free_mail_domains()
	parts = domain.lower().split(".")
	return any(".".join(parts[i:]) in free for i in range(len(parts) - 1))


def number(value) -> float | None:
	"""A field's number for greater_than: ints and floats as they are, "51-200" -> 51, "1000+" -> 1000,
	"1,500" -> 1500; None for anything else (booleans, blanks, words)."""
	if isinstance(value, bool) or value is None:
		return None
	if isinstance(value, int | float):
		return float(value) if math.isfinite(value) else None
	if isinstance(value, str):
		match = _NUMBER.match(value.replace(",", "").replace("_", ""))
		return float(match.group(1)) if match else None
	return None


def _shown(value) -> str:
	if isinstance(value, float) and value.is_integer():
		value = int(value)
	return str(value).strip()


def _text(value) -> str:
	if isinstance(value, float) and value.is_integer():
		value = int(value)
	return str(value).strip().casefold()


def _equal(field_value, wanted: tuple[str, float | None]) -> bool:
	# wanted: (the value casefolded, the value as a number or None)
	if not _filled(field_value) and field_value != 0:
		return False
	if isinstance(field_value, int | float) and not isinstance(field_value, bool):
		return wanted[1] is not None and float(field_value) == wanted[1]
	return _text(field_value) == wanted[0]


def list_values(value: str | None) -> tuple[str, ...]:
	"""An in_list rule's values: one a line or comma-separated, blanks dropped."""
	if _blank(value):
		return ()
	return tuple(v.strip() for v in re.split(r"[\n,]", value) if v.strip())


@dataclass(frozen=True)
class FitRule:
	"""Points for a lead whose field `field` passes `operator` against `value` (see the module docstring)."""

	id: str
	field: str
	operator: str
	points: float
	value: str | None = None
	active: bool = True

	def __post_init__(self):
		if _blank(self.id):
			raise ValidationError("A scoring rule needs a name")
		label = f"Fit rule {self.id}"
		field = "" if _blank(self.field) else str(self.field).strip()
		if not _FIELDNAME.match(field):
			raise ValidationError(
				f"{label}: lead field must be a CRM Lead fieldname such as industry, not {field!r}"
			)
		object.__setattr__(self, "field", field)
		if self.operator not in FIT_OPERATORS:
			raise ValidationError(f"{label}: operator must be one of {', '.join(FIT_OPERATORS)}")
		object.__setattr__(self, "points", _finite(self.points, f"{label}: points"))
		value = None if _blank(self.value) else str(self.value).strip()
		if self.operator not in OPERATORS_WITH_VALUE:
			value = None  # is_set and not_free_mail compare with nothing
		elif value is None:
			raise ValidationError(f"{label}: operator {self.operator} needs a value")
		elif self.operator == "greater_than" and number(value) is None:
			raise ValidationError(f"{label}: greater_than needs a number, not {value!r}")
		elif self.operator == "in_list":
			value = "\n".join(list_values(value))
		object.__setattr__(self, "value", value)
		object.__setattr__(self, "active", bool(self.active))
		# Parsed once: matching runs for every lead of a rescore.
		wanted = list_values(value) if self.operator == "in_list" else (value,) if value is not None else ()
		object.__setattr__(self, "_wanted", tuple((w.strip().casefold(), number(w)) for w in wanted))
		object.__setattr__(self, "_threshold", number(value) if self.operator == "greater_than" else None)

	def matches(self, fields: Mapping) -> bool:
		"""True when the lead's field passes this rule's operator."""
		field_value = fields.get(self.field)
		if self.operator == "is_set":
			return _filled(field_value)
		if self.operator in ("equals", "in_list"):
			return any(_equal(field_value, wanted) for wanted in self._wanted)
		if self.operator == "greater_than":
			have = number(field_value)
			return have is not None and have > self._threshold
		domain = email_domain(field_value)  # not_free_mail
		return domain is not None and not is_free_mail(domain)

	def describe(self, fields: Mapping) -> str:
		"""What the lead has that this rule rewards, in words ("company email domain (acme.io)")."""
		label = FIELD_LABELS.get(self.field, self.field.replace("_", " "))
		field_value = fields.get(self.field)
		if self.operator == "is_set":
			return f"{label} given"
		if self.operator == "not_free_mail":
			return f"company {label} domain ({email_domain(field_value)})"
		if self.operator == "greater_than":
			return f"{label} above {self.value} ({_shown(field_value)})"
		return f"{label} is {_shown(field_value)}"


# Lead Scoring Rule fieldnames fit_rule_from_row reads (a test checks they exist in the DocType).
FIT_RULE_FIELDS = ("name", "rule_name", "active", "lead_field", "operator", "value", "points")


def fit_rule_from_row(row: Mapping) -> FitRule:
	"""A FitRule from a Lead Scoring Rule row of rule type "fit"; blanks are None."""
	points = row.get("points")
	return FitRule(
		id=row.get("name") or row.get("rule_name"),
		field=row.get("lead_field"),
		operator=row.get("operator"),
		points=0.0 if points is None else points,
		value=row.get("value"),
		active=bool(row.get("active", 1)),
	)


@dataclass(frozen=True)
class FitMatch:
	"""One fit rule a lead matches: the rule's id, its points and the words for it."""

	rule: str
	points: float
	text: str


def fit_matches(fields: Mapping, rules: Iterable[FitRule]) -> list[FitMatch]:
	"""The active fit rules `fields` (one lead's fieldname -> value) matches, in rule order."""
	return [
		FitMatch(rule.id, rule.points, rule.describe(fields))
		for rule in rules
		if rule.active and rule.matches(fields)
	]


@dataclass(frozen=True)
class FitPreview:
	"""A lead scored by fit rules alone: its name, the points (sum of matches, unclamped) and the matches."""

	lead: str | None
	points: float
	matches: tuple[FitMatch, ...]


def preview_fit(leads: Iterable[Mapping], rules: Iterable[FitRule]) -> list[FitPreview]:
	"""Score a few leads (dicts of CRM Lead fields; "name" names them) with some fit rules, in lead order:
	what a rule form shows as "these 5 leads would get...". Inactive rules are applied too (a preview of a
	rule being written), so pass only the rules to try."""
	rules = [rule if rule.active else _activated(rule) for rule in rules]
	previews = []
	for fields in leads:
		matched = tuple(fit_matches(fields, rules))
		previews.append(FitPreview(fields.get("name"), math.fsum(m.points for m in matched), matched))
	return previews


def _activated(rule: FitRule) -> FitRule:
	return FitRule(rule.id, rule.field, rule.operator, rule.points, rule.value, active=True)
