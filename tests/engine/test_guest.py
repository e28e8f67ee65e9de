"""The guest boundary: whatever a stranger sends leaves it inert (no markup a browser would run) and fitted to
its column; known answers, then properties over arbitrary text."""

import html
import json
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine import guest
from trackflow.engine.errors import ValidationError
from trackflow.engine.guest import COLUMNS, Column, fit, fit_rows, fit_value, inert_text, inert_url

XSS = "<img src=x onerror=alert(document.domain)>"


class Markup(HTMLParser):
	"""Counts what a browser's parser would make of a string inserted as HTML: elements, comments,
	declarations, processing instructions, and entities that decode to markup characters."""

	def __init__(self):
		super().__init__(convert_charrefs=False)
		self.found = []

	def handle_starttag(self, tag, attrs):
		self.found.append(("tag", tag))

	def handle_startendtag(self, tag, attrs):
		self.found.append(("tag", tag))

	def handle_endtag(self, tag):
		self.found.append(("end", tag))

	def handle_comment(self, data):
		self.found.append(("comment", data))

	def handle_decl(self, decl):
		self.found.append(("decl", decl))

	def handle_pi(self, data):
		self.found.append(("pi", data))

	def handle_entityref(self, name):
		# Python's parser takes any `&name` as a reference; a browser decodes only the ones HTML defines.
		if html.unescape(f"&{name};") != f"&{name};" or html.unescape(f"&{name}") != f"&{name}":
			self.found.append(("entity", name))

	def handle_charref(self, name):
		self.found.append(("charref", name))

	def handle_data(self, data):
		# A character reference the parser left in the text (`&lt` before a letter) still decodes.
		if html.unescape(data) != data:
			self.found.append(("reference", data))


def markup_in(value: str) -> list:
	parser = Markup()
	parser.feed(value)
	parser.close()
	return parser.found


def test_known_hostile_strings_become_inert_text():
	assert inert_text(XSS) == "\u2039img src=x onerror=alert(document.domain)\u203a"
	assert inert_text("<script>alert(1)</script>") == "\u2039script\u203aalert(1)\u2039/script\u203a"
	assert inert_text("&lt;img src=x onerror=alert(1)&gt;") == "\uff06lt;img src=x onerror=alert(1)\uff06gt;"
	assert inert_text("&#60;svg onload=alert(1)&#62;") == "\uff06#60;svg onload=alert(1)\uff06#62;"
	assert inert_text("evil\u202ecod.exe\u200b") == "evilcod.exe"  # bidi override and zero-width go
	assert inert_text("a\x00b\x1bc") == "abc"


def test_ordinary_text_is_unchanged():
	for text in (
		"Shoes \u2013 Shop",
		"Tom & Jerry",
		"R&D 50% & more",
		'Say "hi" it\'s',
		"line\nbreak\ttab",
		"日本語",
	):
		assert inert_text(text) == text


def test_urls_keep_working_and_cannot_break_out_of_an_attribute():
	assert inert_url("https://shop.example.com/p?q=1&r=2#top") == "https://shop.example.com/p?q=1&r=2#top"
	assert inert_url('https://x.example/"><script>alert(1)</script>') == (
		"https://x.example/%22%3E%3Cscript%3Ealert(1)%3C/script%3E"
	)
	assert inert_url("https://x.example/a b'c`d\\e") == "https://x.example/a%20b%27c%60d%5Ce"
	assert inert_url("https://x.example/%3Calready%3E") == "https://x.example/%3Calready%3E"
	assert inert_url("javascript:alert(1)") is None
	assert inert_url("data:text/html,<script>alert(1)</script>") is None
	assert inert_url(XSS) is None
	assert inert_url("android-app://com.google.android.gm/") is None


def test_fitting_cuts_what_may_be_cut_and_refuses_what_may_not():
	assert fit_value(Column(guest.TEXT, 10), "x" * 50) == "x" * 10
	assert fit_value(Column(guest.URL, 22), "https://example.com/%E2%82%AC") == "https://example.com/"
	with pytest.raises(ValidationError, match="longer than 140"):
		fit_value(COLUMNS["TrackFlow Visitor"]["email"], "a" * 150 + "@example.com", "email")
	with pytest.raises(ValidationError, match="not a valid key"):
		fit_value(Column(guest.KEY, 140), "<b>", "name")
	with pytest.raises(ValidationError, match="not a valid key"):
		fit_value(Column(guest.KEY, 64), "a" * 65, "visitor_id")
	assert fit_value(Column(guest.KEY, 140), "Spring & Summer 'Sale'") == "Spring & Summer 'Sale'"
	assert fit_value(Column(guest.TEXT, 5), None) is None and fit_value(Column(guest.TEXT, 5), 7) == 7


def test_json_columns_hold_inert_strings_and_refuse_what_does_not_fit():
	text = fit_value(COLUMNS["TrackFlow Event"]["properties"], {"plan<": XSS, "n": 3, "ok": True})
	assert json.loads(text) == {"plan\u2039": inert_text(XSS), "n": 3, "ok": True}
	assert fit_value(COLUMNS["TrackFlow Event"]["properties"], None) is None
	with pytest.raises(ValidationError, match="longer than"):
		fit_value(Column(guest.JSON, 20), {"k": "v" * 30}, "props")


def test_fit_refuses_a_text_column_the_boundary_does_not_know():
	with pytest.raises(ValidationError, match="not a declared guest column"):
		fit("Click Event", {"comment": "hello"})
	assert fit("Click Event", {"referrer": XSS, "is_bot": 1}) == {"referrer": None, "is_bot": 1}
	assert fit_rows("Click Event", ["user_agent", "is_bot"], [[XSS, 0]]) == [[inert_text(XSS), 0]]


def test_the_crm_summary_is_cut_to_crm_columns():
	values = fit("CRM Summary", {"tf_first_touch_source": "s" * 200, "tf_touch_count": 3})
	assert values == {"tf_first_touch_source": "s" * 140, "tf_touch_count": 3}


hostile = st.lists(
	st.sampled_from([*"<>&#;\"'`=/ \\:abcxyz0129!-?", "\u202e", "\x00", "\x1b", "script", "img", "lt"]),
	max_size=40,
).map("".join) | st.text(max_size=300)


@given(hostile)
def test_no_string_leaving_the_boundary_carries_markup(value):
	for column in (Column(guest.TEXT, 255), Column(guest.URL, 2048)):
		out = fit_value(column, value)
		if out is None:
			continue
		assert markup_in(out) == [], (value, out)
		assert "<" not in out and ">" not in out
		assert len(out) <= column.length
	url = inert_url("https://example.com/" + value)
	assert url is not None and not set("<>\"'` \\") & set(url)
	assert [kind for kind, _ in markup_in(url) if kind not in ("entity", "charref", "reference")] == []


@given(
	st.dictionaries(st.text(max_size=30), st.text(max_size=60) | st.integers() | st.booleans(), max_size=8)
)
def test_json_values_are_inert_and_decode(props):
	text = fit_value(Column(guest.JSON, 65535), props)
	assert "<" not in text and ">" not in text
	decoded = json.loads(text)
	assert all(
		markup_in(k) == [] and (not isinstance(v, str) or markup_in(v) == []) for k, v in decoded.items()
	)


@given(st.sampled_from(sorted(COLUMNS)), st.text(max_size=5000))
def test_every_declared_column_gets_a_value_that_fits_it(doctype, value):
	for field, column in COLUMNS[doctype].items():
		try:
			out = fit_value(column, value, field)
		except ValidationError:
			assert column.kind in (guest.KEY, guest.EMAIL, guest.JSON)
			continue
		assert out is None or len(out) <= column.length


def test_per_client_limits_count_an_ipv6_client_by_its_64():
	from trackflow.engine.ratelimit import client_key

	assert client_key("203.0.113.77") == "203.0.113.77"
	assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
	assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
	assert client_key("::ffff:203.0.113.77") == "203.0.113.77"
	assert client_key(None) == client_key("not an ip") == "-"


@given(
	st.lists(
		st.tuples(
			st.none()
			| st.text(max_size=150)
			| st.sampled_from(["https://a.example/x?y=1", "HTTP://A.example", "<b>"]),
			st.none() | st.text(max_size=70) | st.just("f" * 32),
			st.none() | st.text(max_size=600),
			st.integers(0, 1),
		),
		min_size=1,
		max_size=6,
	)
)
def test_the_column_fast_path_gives_what_fitting_each_value_gives(rows):
	fields = ["referrer", "visitor_id", "user_agent", "is_bot"]
	columns = COLUMNS["Click Event"]
	try:
		expected = [
			[
				fit_value(columns[f], v, f"Click Event.{f}") if f in columns else v
				for f, v in zip(fields, row, strict=True)
			]
			for row in rows
		]
	except ValidationError:
		with pytest.raises(ValidationError):
			fit_rows("Click Event", fields, rows)
		return
	assert fit_rows("Click Event", fields, rows) == expected


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40) | st.integers() | st.none(), max_size=6))
def test_json_fast_path_matches_the_slow_path(props):
	from trackflow.engine.guest import inert_text

	slow = json.dumps(
		{inert_text(k): inert_text(v) if isinstance(v, str) else v for k, v in props.items()},
		ensure_ascii=False,
		separators=(",", ":"),
	)
	assert fit_value(Column(guest.JSON, 65535), props) == slow
