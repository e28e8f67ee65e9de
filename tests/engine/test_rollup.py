"""Click rollups: visitor keys, the stored visitor sets, grouping of clicks and exact unions."""

import hashlib
import secrets
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine import rollup
from trackflow.engine.errors import ValidationError

DAY1, DAY2 = date(2026, 11, 1), date(2026, 11, 2)


def test_a_trackflow_visitor_id_keys_on_its_first_64_bits():
	assert rollup.visitor_key("00000000000000ff" + "a" * 16) == 255
	assert rollup.visitor_key("FFFFFFFFFFFFFFFF0000") == 2**64 - 1


def test_any_other_id_is_hashed_to_64_bits():
	expected = int.from_bytes(hashlib.blake2b(b"visitor-7", digest_size=8).digest(), "big")
	assert rollup.visitor_key("visitor-7") == expected
	with pytest.raises(ValidationError):
		rollup.visitor_key("")


def test_encode_is_sorted_big_endian_base64_and_decodes_back():
	text = rollup.encode([3, 1, 3, 2**64 - 1])
	assert text == "AAAAAAAAAAEAAAAAAAAAA///////////"
	assert list(rollup.decode(text)) == [1, 3, 2**64 - 1]
	assert list(rollup.decode(None)) == list(rollup.decode("")) == []


@pytest.mark.parametrize("bad", ["not base64!", "AAAA"])
def test_a_damaged_set_is_a_clear_error(bad):
	with pytest.raises(ValidationError):
		rollup.decode(bad)


def test_merge_and_remove_keep_counts_exact():
	text, count = rollup.merge(None, {5, 7})
	text, count = rollup.merge(text, {7, 9})
	assert count == 3 and list(rollup.decode(text)) == [5, 7, 9]
	text, count = rollup.remove(text, 7)
	assert count == 2 and list(rollup.decode(text)) == [5, 9]
	assert rollup.remove(text, 42)[1] == 2


KEYS = st.integers(0, 2**64 - 1) | st.integers(0, 50)  # full range, and small ones that collide


@given(st.lists(st.sets(KEYS, max_size=40), max_size=6), st.lists(KEYS, max_size=10))
def test_merge_and_remove_behave_as_set_union_and_discard(batches, erased):
	"""Batches merged one after another, then erasures, equal the same operations on a Python set, and
	the text stays the canonical encoding (sorted, distinct) that `encode` writes."""
	text, expected = None, set()
	for batch in batches:
		text, count = rollup.merge(text, batch)
		expected |= batch
		assert count == len(expected) and text == rollup.encode(expected)
	for key in erased:
		text, count = rollup.remove(text, key)
		expected.discard(key)
		assert count == len(expected) and text == rollup.encode(expected)


def test_fold_merges_delta_sets_into_the_days_row():
	row, _ = rollup.merge(None, {1, 2})
	text, count = rollup.fold(row, 2, [(rollup.encode([2, 3]), 2), (rollup.encode([4]), 1), ("", 0)])
	assert (list(rollup.decode(text)), count) == ([1, 2, 3, 4], 4)
	# a new row (or one with bots only so far) has no set and no visitors: it takes the deltas' union
	assert rollup.fold(None, 0, [(rollup.encode([5, 6]), 2)]) == (rollup.encode([5, 6]), 2)
	assert rollup.fold(row, 2, []) == (row, 2)


def test_fold_into_a_purged_day_adds_counts_and_keeps_no_set():
	assert rollup.fold(None, 7, [(rollup.encode([1, 2]), 2), (rollup.encode([2]), 1)]) == (None, 10)


def test_clicks_group_by_campaign_link_variant_and_day_and_bots_stay_out():
	v1, v2 = secrets.token_hex(16), secrets.token_hex(16)
	clicks = [
		{"link": "L1", "campaign": "C", "variant": "A", "visitor": v1, "day": DAY1},
		{"link": "L1", "campaign": "C", "variant": "A", "visitor": v1, "day": DAY1},
		{"link": "L1", "campaign": "C", "variant": "A", "visitor": v2, "day": DAY1, "is_bot": 1},
		{"link": "L1", "campaign": "C", "variant": "B", "visitor": v2, "day": DAY1},
		{"link": "L1", "campaign": "C", "visitor": None, "day": DAY2},
		{"link": "L2", "day": DAY2, "visitor": v2},
	]
	rows = rollup.rollup_clicks(clicks, lambda c: c["day"])
	a = rows[("C", "L1", "A", DAY1)]
	assert (a.clicks, a.bot_clicks, a.visitors) == (2, 1, {rollup.visitor_key(v1)})
	assert rows[("C", "L1", "B", DAY1)].visitors == {rollup.visitor_key(v2)}
	cookieless = rows[("C", "L1", "", DAY2)]
	assert (cookieless.clicks, cookieless.visitors) == (1, set())
	assert rows[(None, "L2", "", DAY2)].clicks == 1
	assert len(rows) == 4


def test_row_names_are_deterministic_and_tell_keys_apart():
	key = ("C", "L1", "A", DAY1)
	assert rollup.row_name(key) == rollup.row_name(("C", "L1", "A", date(2026, 11, 1)))
	others = [("C", "L1", "B", DAY1), ("C", "L1", "A", DAY2), (None, "L1", "A", DAY1), ("C", "L1A", "", DAY1)]
	names = {rollup.row_name(k) for k in [key, *others]}
	assert len(names) == 5 and all(len(n) == 32 for n in names)


@given(
	st.lists(
		st.tuples(
			st.sampled_from(["C1", "C2"]),
			st.sampled_from(["L1", "L2"]),
			st.sampled_from(["", "A", "B"]),
			st.integers(0, 9),
			st.integers(0, 40),
		),
		min_size=1,
		max_size=200,
	)
)
def test_union_over_days_counts_each_visitor_once_at_every_level(clicks):
	"""(campaign, link, variant, day, visitor) clicks: the union of daily sets equals the distinct visitors
	of each campaign, link and variant, and of all campaigns together."""
	ids = {n: hashlib.md5(str(n).encode()).hexdigest() for n in range(41)}  # random-looking, like real ids
	records = [
		{"link": f"{c}-{l}", "campaign": c, "variant": v, "visitor": ids[n], "day": date(2026, 1, 1 + d)}
		for c, l, v, d, n in clicks
	]
	union = rollup.VisitorUnion()
	for (campaign, link, variant, _day), counts in rollup.rollup_clicks(records, lambda r: r["day"]).items():
		union.add(rollup.encode(counts.visitors), len(counts.visitors), (campaign, link, variant))

	def distinct(**where):
		return len({r["visitor"] for r in records if all(r[k] == v for k, v in where.items())})

	for campaign in ("C1", "C2"):
		assert union.count((campaign,)) == distinct(campaign=campaign)
		for link in (f"{campaign}-L1", f"{campaign}-L2"):
			assert union.count((campaign, link)) == distinct(link=link)
			for variant in ("", "A", "B"):
				assert union.count((campaign, link, variant)) == distinct(link=link, variant=variant)
	assert union.count_all([("C1",), ("C2",)]) == len({r["visitor"] for r in records})


def test_purged_days_add_their_daily_counts():
	union = rollup.VisitorUnion()
	union.add(rollup.encode([1, 2]), 2, ("C", "L1"))
	union.add(rollup.encode([2, 3]), 2, ("C", "L2"))
	union.add(None, 5, ("C", "L2"))  # a day whose visitors went with its clicks
	assert union.count(("C",)) == 3 + 5
	assert union.count(("C", "L1")) == 2
	assert union.count(("C", "L2")) == 2 + 5
	assert union.count(("other",)) == 0
	assert union.count_all([]) == 0


def test_union_keys_must_be_tuples():
	with pytest.raises(ValidationError):
		rollup.VisitorUnion().add(rollup.encode([1]), 1, "C")
