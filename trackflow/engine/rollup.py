"""Per-day click rollups: counts per (campaign, link, variant, day) and the exact set of visitors behind
them, compact enough to union in memory for any date range.

Campaign Performance over 1M clicks reads a few thousand rollup rows instead of the clicks themselves.
"Unique visitors" over a range stays exact (not a sum of daily uniques, not an estimate): each row keeps
its visitors as a sorted set of 64-bit keys. TrackFlow's visitor ids are 32 random hex digits (never a
fingerprint), so their first 64 bits already are a uniform key; any other id is hashed to 64 bits.
Two different visitors share a key with probability about n^2 / 2^65 (1e-8 for a million visitors).
"""

import base64
import binascii
import hashlib
import sys
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from trackflow.engine.errors import ValidationError

KEY_BYTES = 8
# The day of a link's lifetime row: the retention purge moves the visitor sets of old days there (the days
# keep their counts), so lifetime unique visitors stay exact while no day says who clicked when.
LIFETIME_DAY = date(1900, 1, 1)
_HEX = frozenset("0123456789abcdefABCDEF")


def visitor_key(visitor_id: str) -> int:
	"""The 64-bit key of a visitor id: its first 16 hex digits, or a BLAKE2b hash of any other id."""
	if not visitor_id:
		raise ValidationError("A visitor id is needed for a visitor key")
	head = visitor_id[:16]
	if len(head) == 16 and _HEX.issuperset(head):
		return int(head, 16)
	return int.from_bytes(hashlib.blake2b(visitor_id.encode(), digest_size=KEY_BYTES).digest(), "big")


def encode(keys: Iterable[int]) -> str:
	"""Visitor keys as text for a database column: sorted, 8 bytes each, big-endian, base64."""
	return _pack(array("Q", sorted(set(keys))))


def _pack(keys: array) -> str:
	"""`encode` of keys already sorted and distinct."""
	if sys.byteorder == "little":
		keys = array("Q", keys)
		keys.byteswap()
	return base64.b64encode(keys.tobytes()).decode("ascii")


def decode(text: str | None) -> array:
	"""The keys `encode` wrote (an empty array for None or "")."""
	try:
		raw = base64.b64decode(text or "", validate=True)
	except binascii.Error as exc:
		raise ValidationError(f"A visitor set must be base64 text: {exc}") from None
	if len(raw) % KEY_BYTES:
		raise ValidationError(f"A visitor set must be a multiple of {KEY_BYTES} bytes, got {len(raw)}")
	keys = array("Q")
	keys.frombytes(raw)
	if sys.byteorder == "little":
		keys.byteswap()
	return keys


def merge(text: str | None, new_keys: Iterable[int]) -> tuple[str, int]:
	"""A stored set with `new_keys` added: (its new text, how many visitors it now holds).

	Folding adds a batch's few keys to a day's set that may hold a hundred thousand: the stored keys
	stay a sorted machine array (located by binary search, copied in slices), so a merge costs a few
	memory copies of the set and Python work for the new keys only."""
	keys = decode(text)
	fresh = []
	for key in sorted(set(new_keys)):
		at = bisect_left(keys, key)
		if at == len(keys) or keys[at] != key:
			fresh.append((at, key))
	if not fresh:
		return text or "", len(keys)
	merged, start = array("Q"), 0
	for at, key in fresh:
		merged += keys[start:at]
		merged.append(key)
		start = at
	merged += keys[start:]
	return _pack(merged), len(merged)


def fold(text: str | None, visitors: int, deltas: Iterable[tuple[str | None, int]]) -> tuple[str | None, int]:
	"""A day's row (visitor set, visitor count) with its delta rows' (set, count) folded in.

	A row whose set was purged (None, with visitors counted) keeps no set and adds the deltas' counts: its
	visitors went with its clicks, so only the daily count stays. A row with no set and no visitors (new,
	or only bots so far) takes the deltas' union."""
	deltas = list(deltas)
	if text is None and visitors:
		return None, visitors + sum(count for _set, count in deltas)
	added: set[int] = set()
	for delta_set, _count in deltas:
		added.update(decode(delta_set))
	return merge(text, added)


def remove(text: str | None, key: int) -> tuple[str, int]:
	"""A stored set without `key` (an erased visitor): (its new text, how many visitors it now holds)."""
	keys = decode(text)
	at = bisect_left(keys, key)
	if at == len(keys) or keys[at] != key:
		return text or "", len(keys)
	del keys[at]
	return _pack(keys), len(keys)


@dataclass
class DayCounts:
	"""What a batch of clicks adds to one rollup row."""

	clicks: int = 0
	bot_clicks: int = 0
	visitors: set[int] = field(default_factory=set)


RollupKey = tuple[str | None, str, str, date]  # campaign, link, variant ("" without one), day


def rollup_clicks(clicks: Iterable[Mapping], day_of: Callable[[Mapping], date]) -> dict[RollupKey, DayCounts]:
	"""Group click records ({"link", "campaign"?, "variant"?, "visitor"?, "is_bot"?}) by rollup key.

	Bots are counted apart and never join the visitor set, as in every report figure."""
	rows: dict[RollupKey, DayCounts] = defaultdict(DayCounts)
	for click in clicks:
		counts = rows[
			(click.get("campaign") or None, click["link"], click.get("variant") or "", day_of(click))
		]
		if click.get("is_bot"):
			counts.bot_clicks += 1
			continue
		counts.clicks += 1
		if click.get("visitor"):
			counts.visitors.add(visitor_key(click["visitor"]))
	return dict(rows)


def row_name(key: RollupKey) -> str:
	"""A deterministic primary key for a day's rollup row, so concurrent folds create it once (a drain's
	delta rows are named after it, `<row name>-<tag>`)."""
	campaign, link, variant, day = key
	text = "\x1f".join((campaign or "", link, variant, day.isoformat()))
	return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class VisitorUnion:
	"""Distinct visitors over many rollup rows, kept once per row key (a tuple such as (campaign, link,
	variant)) and counted for any prefix of it: (campaign,) or (campaign, link) unions the sets below.

	Each row's keys enter one set only; a prefix's count unions the few finished sets under it, so a
	campaign, its links and their variants cost one pass over the rows, not one each.
	A row whose visitor set was cleared by the retention purge (its clicks are gone) adds its stored
	daily count instead: over purged days unique visitors become a sum of daily uniques (an upper bound)."""

	def __init__(self):
		self._keys: dict[tuple, set[int]] = {}
		self._purged: dict[tuple, int] = defaultdict(int)
		self._under: dict[tuple, list[tuple]] = defaultdict(list)  # every prefix -> the row keys below it

	def add(self, visitor_set: str | None, daily_visitors: int, key: tuple) -> None:
		"""One rollup row's visitors under `key`."""
		if not isinstance(key, tuple) or not key:
			raise ValidationError("A visitor union key must be a non-empty tuple")
		keys = self._keys.get(key)
		if keys is None:
			keys = self._keys[key] = set()
			for length in range(1, len(key) + 1):
				self._under[key[:length]].append(key)
		if visitor_set is None:
			self._purged[key] += daily_visitors or 0
		else:
			keys.update(decode(visitor_set))

	def count(self, prefix: tuple) -> int:
		"""Distinct visitors of every row key that starts with `prefix`."""
		return self.count_all([prefix])

	def count_all(self, prefixes: Iterable[tuple]) -> int:
		"""Distinct visitors across several prefixes (a visitor of two campaigns counts once)."""
		rows = {key for prefix in prefixes for key in self._under.get(prefix, ())}
		sets = [self._keys[key] for key in rows]
		distinct = len(sets[0]) if len(sets) == 1 else len(set().union(*sets))
		return distinct + sum(self._purged.get(key, 0) for key in rows)
