"""Short codes, slugs, destination checks, UTM merging, short URLs and A/B variant choice."""

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine import links
from trackflow.engine.errors import ValidationError
from trackflow.engine.links import Variant


def test_codes_use_the_unambiguous_alphabet_at_the_asked_length():
	codes = [links.new_code(7) for _ in range(3000)]
	assert all(len(c) == 7 for c in codes)
	used = set("".join(codes))
	assert used <= set(links.SHORT_CODE_ALPHABET)
	assert not used & set("0O1lI")
	assert len(used) == len(links.SHORT_CODE_ALPHABET)  # every character does occur
	assert len(set(codes)) == 3000
	assert len(links.new_code(32)) == 32


@pytest.mark.parametrize("length", [4, 33, 0, "7", None])
def test_code_length_is_bounded(length):
	with pytest.raises(ValidationError, match="Short Code Length"):
		links.new_code(length)


@pytest.mark.parametrize("slug", ["spring-sale", "Spring_Sale_2026", "abc", "a" * 64, "Q4-promo"])
def test_good_slugs(slug):
	assert links.validate_slug(f" {slug} ") == slug
	assert links.is_valid_code(slug)


@pytest.mark.parametrize(
	"slug, message",
	[
		("", "empty"),
		("ab", "3 to 64"),
		("a" * 65, "3 to 64"),
		("spring sale", "may contain only"),
		("-abc", "may contain only"),
		("abc_", "may contain only"),
		("sale/2026", "may contain only"),
		("café", "may contain only"),
		("API", "reserved"),
		("Assets", "reserved"),
		("files", "reserved"),
		("login", "reserved"),
		("socket.io", "may contain only"),
		("desk", "reserved"),
		("CRM", "reserved"),
	],
)
def test_bad_slugs(slug, message):
	with pytest.raises(ValidationError, match=message):
		links.validate_slug(slug)


def test_reserved_words_cover_frappe_routes():
	assert {"api", "app", "assets", "files", "private", "login", "desk", "crm", "r", "q", "socket.io"} <= (
		links.RESERVED_SLUGS
	)


def test_slugs_are_unique_case_insensitively():
	assert links.normalize_slug(" Spring-Sale ") == links.normalize_slug("spring-sale") == "spring-sale"


@pytest.mark.parametrize(
	"url, expected",
	[
		("https://example.com", "https://example.com"),
		("  HTTPS://Example.COM/Path?a=B#Frag ", "https://example.com/Path?a=B#Frag"),
		("http://example.com:8080/x", "http://example.com:8080/x"),
		("https://[2001:db8::1]/x", "https://[2001:db8::1]/x"),
		("https://bücher.example/x", "https://bücher.example/x"),
	],
)
def test_good_destinations(url, expected):
	assert links.normalize_destination(url) == expected


@pytest.mark.parametrize(
	"url, message",
	[
		("javascript:alert(1)", "not javascript:"),
		("JavaScript:alert(1)", "not javascript:"),
		("data:text/html,<script>", "not data:"),
		("mailto:a@example.com", "not mailto:"),
		("ftp://example.com/x", "not ftp:"),
		("/relative/path", "absolute URL"),
		("example.com/path", "absolute URL"),
		("//example.com/x", "absolute URL"),
		("https://", "no host"),
		("http:///x", "no host"),
		("https://user:pw@example.com", "user name or password"),
		("https://evil.com\\@good.com", "backslash"),
		("https://exa mple.com", "spaces"),
		("https://example.com/\nx", "control"),
		("https://example.com:99999", "not a valid URL"),
		("https://-bad-.com", "invalid host"),
		("https://example.com/" + "a" * 2100, "too long"),
		("", "empty"),
	],
)
def test_bad_destinations(url, message):
	with pytest.raises(ValidationError, match=message) as info:
		links.normalize_destination(url, "Destination URL")
	assert "Destination URL" in str(info.value)


def test_utm_merge_keeps_existing_params_order_and_fragment():
	url = "https://shop.example/p?ref=x&utm_source=partner&b=2#section"
	merged = links.merge_utm(url, {"source": "newsletter", "medium": "email", "campaign": "spring sale"})
	assert (
		merged
		== "https://shop.example/p?ref=x&utm_source=partner&b=2&utm_medium=email&utm_campaign=spring%20sale#section"
	)


def test_utm_merge_override_replaces_in_place():
	url = "https://shop.example/p?ref=x&utm_source=partner&b=2&utm_source=again#s"
	merged = links.merge_utm(url, {"utm_source": "newsletter", "term": None, "content": ""}, mode="override")
	assert merged == "https://shop.example/p?ref=x&utm_source=newsletter&b=2#s"


def test_utm_merge_leaves_an_untouched_query_byte_for_byte():
	url = "https://shop.example/p?a=%2F&b=x+y#f"
	assert links.merge_utm(url, {"source": None}) == url
	assert links.merge_utm(url, {"source": "s"}) == "https://shop.example/p?a=%2F&b=x+y&utm_source=s#f"


def test_utm_merge_rejects_unknown_keys_and_modes():
	with pytest.raises(ValidationError, match="Unknown UTM"):
		links.merge_utm("https://x.example", {"gclid": "1"})
	with pytest.raises(ValidationError, match="merge mode"):
		links.merge_utm("https://x.example", {"source": "1"}, mode="replace")


@given(st.dictionaries(st.sampled_from(links.UTM_FIELDS), st.text(min_size=1, max_size=20), max_size=5))
def test_utm_merge_round_trips_values(utm):
	from urllib.parse import parse_qs, urlsplit

	merged = links.merge_utm("https://x.example/p?keep=1#frag", utm)
	query = parse_qs(urlsplit(merged).query, keep_blank_values=True)
	assert query["keep"] == ["1"] and merged.endswith("#frag")
	for key, value in utm.items():
		if value.strip():
			assert query[f"utm_{key}"] == [value.strip()]


def test_short_url():
	assert (
		links.short_url("https://crm.example.com/", "/r/", "Ab3xK9p") == "https://crm.example.com/r/Ab3xK9p"
	)
	assert links.short_url("https://crm.example.com", "go", "x") == "https://crm.example.com/go/x"
	with pytest.raises(ValidationError):
		links.short_url("crm.example.com", "r", "x")
	with pytest.raises(ValidationError):
		links.short_url("https://crm.example.com", "r/x", "x")


VARIANTS = (Variant("A", "https://x.example/a", 1), Variant("B", "https://x.example/b", 3))


def test_variant_choice_is_sticky_per_visitor():
	for visitor in (f"visitor{i}" for i in range(200)):
		first = links.choose_variant(VARIANTS, "Ab3xK9p", visitor)
		assert all(links.choose_variant(VARIANTS, "Ab3xK9p", visitor) == first for _ in range(5))


def test_variant_choice_follows_the_weights():
	counts = Counter(links.choose_variant(VARIANTS, "Ab3xK9p", f"v{i}").label for i in range(20000))
	assert 0.72 < counts["B"] / 20000 < 0.78
	rng = random.Random(1)
	cookieless = Counter(links.choose_variant(VARIANTS, "Ab3xK9p", None, rng).label for _ in range(20000))
	assert 0.72 < cookieless["B"] / 20000 < 0.78


def test_variant_choice_differs_between_links_and_skips_zero_weights():
	same = sum(
		links.choose_variant(VARIANTS, "link1", f"v{i}") == links.choose_variant(VARIANTS, "link2", f"v{i}")
		for i in range(2000)
	)
	assert same < 1900  # independent per link, not one bucket per visitor everywhere
	off = (Variant("A", "https://x.example/a", 0), Variant("B", "https://x.example/b", 1))
	assert {links.choose_variant(off, "c", f"v{i}").label for i in range(100)} == {"B"}
	assert links.choose_variant((), "c", "v") is None


def test_variants_from_rows_validates():
	rows = [
		{"label": "A", "destination": "https://x.example/a", "weight": 2},
		{"destination": "https://x.example/b"},
	]
	assert links.variants_from_rows(rows) == (
		Variant("A", "https://x.example/a", 2.0),
		Variant("V2", "https://x.example/b", 1.0),
	)
	with pytest.raises(ValidationError, match="javascript"):
		links.variants_from_rows([{"label": "A", "destination": "javascript:x"}])
	with pytest.raises(ValidationError, match="weight"):
		links.variants_from_rows([{"label": "A", "destination": "https://x.example", "weight": -1}])
	with pytest.raises(ValidationError, match="above 0"):
		links.variants_from_rows([{"label": "A", "destination": "https://x.example", "weight": 0}])
	with pytest.raises(ValidationError, match="twice"):
		links.variants_from_rows([{"label": "A", "destination": "https://x.example"}] * 2)
