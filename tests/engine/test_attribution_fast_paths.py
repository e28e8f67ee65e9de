"""The fast paths of the aggregated-path pipeline give exactly what the straightforward code gives.

`reference_read_paths` and `reference_attribute_paths` are the implementations the fast ones replaced
(the csv module row by row; exact shares as `Fraction`), kept here as the oracle: the new reader must
return equal rows (same Decimal exponents, same int/float numbers) or the same error, and the new
splitter the same conversions (float for float) and values (Decimal for Decimal)."""

from __future__ import annotations

import csv
import io
import sys
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trackflow.engine import cli
from trackflow.engine.attribution import attribute_paths, fit_markov, fit_shapley
from trackflow.engine.attribution.aggregate import NEEDS_TIMESTAMPS
from trackflow.engine.attribution.csv_input import (
	PATH_COLUMNS,
	_read_touchpoints,
	_touchpoints_csv,
	_touchpoints_plain,
	read_paths,
)
from trackflow.engine.attribution.registry import CHANNEL_PREFIX, get_model, parse_model_spec
from trackflow.engine.attribution.types import ModelSpec, PathStats, PathTable, as_rows
from trackflow.engine.errors import ValidationError
from trackflow.engine.money import from_minor, to_minor

ROOT = Path(__file__).resolve().parents[2]


# --- the oracle: the code as it was before the fast paths -------------------------------------------


def _reference_rows(handle, name, required, delimiter=","):
	reader = csv.DictReader(handle, delimiter=delimiter)
	header = [h.strip() for h in reader.fieldnames or ()]
	reader.fieldnames = header
	missing = [c for c in required if c not in header]
	if missing:
		raise ValidationError(
			f"{name}: missing column {missing[0]!r} (columns needed: {', '.join(required)})"
		)
	for number, row in enumerate(reader, start=2):
		yield number, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _reference_plain(number):
	return int(number) if number == number.to_integral_value() else float(number)


def reference_read_paths(path, separator=">", delimiter=";"):
	rows = []
	with open(path, newline="", encoding="utf-8-sig") as handle:
		for number, row in _reference_rows(handle, str(path), PATH_COLUMNS[:2], delimiter=delimiter):
			where = f"{path}: row {number}"
			if not row.get("path"):
				raise ValidationError(f"{where}: field path: empty")
			channels = tuple(c.strip() for c in row["path"].split(separator))
			if not all(channels):
				raise ValidationError(f"{where}: field path: empty channel in {row['path']!r}")
			numbers = []
			for field in ("total_conversions", "total_conversion_value", "total_null"):
				text = row.get(field) or "0"
				try:
					number_value = Decimal(text)
				except InvalidOperation:
					raise ValidationError(f"{where}: field {field}: {text!r} is not a number")
				if not number_value.is_finite() or number_value < 0:
					raise ValidationError(f"{where}: field {field}: {text} is negative or not finite")
				numbers.append(number_value)
			conversions, value, nulls = numbers
			rows.append(PathStats(channels, _reference_plain(conversions), value, _reference_plain(nulls)))
	return rows


def _reference_round(exact, total_units, places):
	floors = {c: v.numerator // v.denominator for c, v in exact.items()}
	leftover = total_units - sum(floors.values())
	order = sorted(exact, key=lambda c: (-(exact[c] - floors[c]), c))
	for c in order[: max(leftover, 0)]:
		floors[c] += 1
	return {c: from_minor(u, places) for c, u in floors.items()}


def _reference_path_weights(
	path: tuple[str, ...], spec: ModelSpec, channel_weights: dict[str, float] | None
) -> list[float]:
	n = len(path)
	name, params = spec.name, spec.param_dict
	if channel_weights is not None or (
		name == "custom" and any(k.startswith(CHANNEL_PREFIX) for k in params)
	):
		weights_by_channel = channel_weights
		if weights_by_channel is None:
			weights_by_channel = {
				k[len(CHANNEL_PREFIX) :]: v for k, v in params.items() if k.startswith(CHANNEL_PREFIX)
			}
		counts: dict[str, int] = defaultdict(int)
		for c in path:
			counts[c] += 1
		raw = [weights_by_channel.get(c, 0.0) / counts[c] for c in path]
	elif name == "last_non_direct":
		raw = [0.0] * n
		index = next((i for i in range(n - 1, -1, -1) if path[i].lower() != "direct"), n - 1)
		raw[index] = 1.0
	elif name in ("position_based", "j_shaped", "inverse_j"):
		if n <= 2:
			raw = [1.0] * n
		else:
			middle = max((1.0 - params["first"] - params["last"]) / (n - 2), 0.0)
			raw = [params["first"]] + [middle] * (n - 2) + [params["last"]]
	elif name == "custom":
		raw = [0.0] * n
		raw[0] += params.get("first", 0.0)
		raw[-1] += params.get("last", 0.0)
		if n > 2:
			for i in range(1, n - 1):
				raw[i] += params.get("middle", 0.0) / (n - 2)
		else:
			raw[-1] += params.get("middle", 0.0)
	else:
		raise ValidationError(f"model {name} cannot run on aggregated paths")
	total = sum(raw)
	return [w / total for w in raw] if total > 0 else [1.0 / n] * n


def reference_attribute_paths(paths, spec, fit=None, places=2):
	spec = parse_model_spec(spec)
	if spec.name in NEEDS_TIMESTAMPS:
		raise ValidationError(
			f"model {spec.name} needs timestamps or milestones; give touchpoints, not paths"
		)
	channel_weights = None
	if get_model(spec.name).data_driven:
		if fit is None:
			raise ValidationError(f"model {spec.name} is data-driven: fit it first")
		if not fit.sufficient:
			return {}
		channel_weights = fit.channel_weights
	conversions = defaultdict(float)
	total_units = 0
	if spec.name in ("first_touch", "last_touch", "linear"):
		units = defaultdict(int)
		by_length = defaultdict(int)
		pick = 0 if spec.name == "first_touch" else -1
		for path, converted, value, _nulls in paths:
			if not converted and not value:
				continue
			cents = to_minor(value, places) if value else 0
			total_units += cents
			if spec.name == "linear":
				n = len(path)
				share = converted / n
				for channel in path:
					conversions[channel] += share
					by_length[channel, n] += cents
			else:
				channel = path[pick]
				conversions[channel] += converted
				units[channel] += cents
		exact = defaultdict(Fraction)
		for channel, u in units.items():
			exact[channel] += u
		for (channel, n), u in by_length.items():
			exact[channel] += Fraction(u, n)
	else:
		exact = defaultdict(Fraction)
		conversions = defaultdict(Fraction)
		for path, converted, value, _nulls in paths:
			if not converted and not value:
				continue
			cents = to_minor(value, places) if value else 0
			total_units += cents
			for channel, w in zip(
				path, _reference_path_weights(tuple(path), spec, channel_weights), strict=True
			):
				# exact, then rounded once (the float sum in touch order, before, moved in the last bits)
				conversions[channel] += Fraction(converted) * Fraction(w)
				if cents:
					exact[channel] += cents * Fraction(w)
		for channel in conversions:
			conversions[channel] = float(conversions[channel])
	for channel in conversions:
		exact.setdefault(channel, Fraction(0))
	values = _reference_round(dict(exact), total_units, places)
	return {c: (conversions[c], values[c]) for c in sorted(conversions)}


# --- generated files -----------------------------------------------------------------------------

CHANNELS = ("email", "direct", "paid_search", "qr", "Sms", "x")


def _same_rows(new, old):
	assert len(new) == len(old)
	for a, b in zip(new, old, strict=True):
		assert a.path == b.path
		for x, y in zip(a[1:], b[1:], strict=True):
			assert type(x) is type(y) and repr(x) == repr(y), (a, b)


def _read_both(tmp_path, text, separator=">", delimiter=";", newline=""):
	file = tmp_path / "p.csv"
	with open(file, "w", encoding="utf-8", newline=newline) as handle:
		handle.write(text)
	outcomes = []
	for reader in (read_paths, reference_read_paths):
		try:
			outcomes.append(("rows", reader(file, separator=separator, delimiter=delimiter)))
		except ValidationError as error:
			outcomes.append(("error", str(error)))
	try:
		outcomes.append(("rows", read_paths(file, separator, delimiter, converting_only=True)))
	except ValidationError as error:
		outcomes.append(("error", str(error)))
	(kind, new), (old_kind, old), (converting_kind, converting) = outcomes
	assert kind == old_kind == converting_kind, (new, old, converting)
	if kind == "error":
		assert new == old == converting
	else:
		_same_rows(new, old)
		_same_converting_rows(converting, old)
	return kind, new


def _same_converting_rows(converting, rows):
	"""converting_only leaves out rows without conversions or value; sums are the same to the digit."""
	_same_rows(
		[r for r in converting if r.conversions or r.value], [r for r in rows if r.conversions or r.value]
	)
	assert all(r in rows for r in converting)
	for column, start in ((1, 0), (2, Decimal(0))):
		total = sum((r[column] for r in rows), start)
		assert str(sum((r[column] for r in converting), start)) == str(total)


def rough_line(draw, line: str, delimiter: str) -> str:
	"""`line`, now and then with a field too many or too few (the csv reader's ragged rows)."""
	shape = draw(st.integers(0, 40))
	if shape == 0:
		return line + delimiter + "extra"
	if shape == 1:
		return line.rpartition(delimiter)[0]
	return line


def rough_file(draw, lines: list[str]) -> str:
	"""The lines as a file's text: now and then a blank line after one, LF or CRLF ends, with or
	without a final line end."""
	kept = []
	for line in lines:
		kept.append(line)
		if draw(st.integers(0, 20)) == 0:
			kept.append("")
	ending = draw(st.sampled_from(["\n", "\r\n"]))
	return ending.join(kept) + (ending if draw(st.booleans()) else "")


@st.composite
def path_files(draw):
	columns = list(PATH_COLUMNS)
	if draw(st.booleans()):
		columns = draw(st.permutations(columns))
	if draw(st.integers(0, 4)) == 0:
		columns = [c for c in columns if c not in ("total_conversion_value", "total_null")]
	if draw(st.integers(0, 5)) == 0:
		columns.append("note")
	spaced = draw(st.booleans())
	lines = [";".join(f" {c} " if spaced else c for c in columns)]
	numbers = st.one_of(
		st.integers(0, 10**6).map(str),
		st.sampled_from(["0", " 3 ", "1.5", "2.0", "0.25", "", "1e2", "007", "1_000"]),
	)
	values = st.one_of(
		st.integers(0, 10**8).map(lambda c: f"{c // 100}.{c % 100:02d}"),
		st.sampled_from(["0", "0.00", "12.3", "7", "1.005", "", " 4.50 ", "1E1", "0.1000"]),
	)
	bad = st.sampled_from(["-1", "abc", "NaN", "inf", "-0.01"])
	for _ in range(draw(st.integers(0, 12))):
		path = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=6))
		separator = draw(st.sampled_from([" > ", ">", "  >", "> "]))
		fields = {
			"path": separator.join(path),
			"total_conversions": draw(numbers),
			"total_conversion_value": draw(values),
			"total_null": draw(numbers),
			"note": "n",
		}
		if draw(st.integers(0, 30)) == 0:
			fields[draw(st.sampled_from(sorted(fields)))] = draw(bad)
		if draw(st.integers(0, 30)) == 0:
			fields["path"] = draw(st.sampled_from(["", " ", "a > > b", "a >", '"a > b"', '"a;b" > c']))
		lines.append(rough_line(draw, ";".join(fields[c] for c in columns), ";"))
	return rough_file(draw, lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path_files())
def test_read_paths_matches_the_csv_module_reader(tmp_path, text):
	_read_both(tmp_path, text)


@pytest.mark.parametrize(
	"text",
	[
		"path;total_conversions\n",
		"path;total_conversions\na > b;1\n",
		"\ufeffpath;total_conversions;total_null\na>b;1;2\n",
		"path;total_conversions;path\na;1;b\n",
		"total_conversions\n1\n",
		"",
		"path;total_conversions\n\n\na;1\n\n",
		"path;total_conversions\na;1\rb;2\r",
		"path;total_conversions\na\u2028b;1\n",
		"path;total_conversions\na;1\x00\n",
		'path;total_conversions\n"a > ""b""";1\n',
		"path;total_conversions\na > b;-0\n",
		"path;total_conversions\nda > b;1;\n",
		"path;total_conversions;total_conversion_value\na;1;1.5e-3\n",
		"path;total_conversions;total_conversion_value\na;1;sNaN\n",
		"path;total_conversions;total_null\nb;1;0\na >  > b;0;3\n",
		"path;total_conversions;total_null\nb;1;0\n > a;0;3\n",
		"path;total_conversions;total_null\nb;1;0\na >\t> b;0;3\n",
		"path;total_conversions;total_null\nb;1;0\na > \u00e9 >\u2003;0;3\n",
		"path;total_conversions;total_null\nb;1;0\na > b;0;\u00b2\n",
		"path;total_conversions;total_null\nb;1;0\na > b;0;\u0663\n",
		"path;total_conversions;total_conversion_value;total_null\nb;0;0;1\nc;0;0.00;2\nd;0;-0;1\ne;1;5;0\n",
	],
)
def test_read_paths_matches_on_odd_files(tmp_path, text):
	_read_both(tmp_path, text)


@pytest.mark.parametrize("separator, delimiter", [(",", "\t"), ("|", ","), ("->", ";")])
def test_read_paths_other_separators(tmp_path, separator, delimiter):
	text = f"path{delimiter}total_conversions{delimiter}total_null\n"
	text += f"a {separator} b{delimiter}1{delimiter}2\nb{delimiter}0{delimiter}4\n"
	kind, rows = _read_both(tmp_path, text, separator, delimiter)
	assert kind == "rows" and rows[0].path == ("a", "b")


# --- the splitter ----------------------------------------------------------------------------------


@st.composite
def aggregated(draw):
	rows = []
	for _ in range(draw(st.integers(1, 40))):
		path = tuple(draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=8)))
		conversions = draw(st.one_of(st.integers(0, 50), st.sampled_from([0.5, 1.25, 3.0])))
		cents = draw(st.integers(0, 10**7)) if conversions or draw(st.booleans()) else 0
		value = Decimal(cents).scaleb(-draw(st.sampled_from([0, 1, 2])))
		rows.append(PathStats(path, conversions, value, draw(st.integers(0, 40))))
	return rows


PATH_SPECS = (
	"first_touch",
	"last_touch",
	"linear",
	"last_non_direct",
	"position_based",
	"j_shaped",
	"custom:first=0.5,last=0.25,middle=0.25",
	"custom:channel.email=0.6,channel.direct=0.4",
)


def _same_totals(new, old):
	assert list(new) == list(old)
	for channel, (conv, value) in new.items():
		old_conv, old_value = old[channel]
		assert conv == old_conv and type(conv) is type(old_conv)
		assert str(value) == str(old_value)


@settings(max_examples=150, deadline=None)
@given(aggregated(), st.sampled_from([0, 2, 3]))
def test_attribute_paths_matches_exact_fractions(rows, places):
	fits = {
		"markov": fit_markov(rows, min_journeys=0),
		"shapley": fit_shapley(rows, min_journeys=0),
	}
	for spec in (*PATH_SPECS, "markov:min_journeys=0", "shapley:min_journeys=0"):
		fit = fits.get(spec.partition(":")[0])
		try:
			old = reference_attribute_paths(rows, spec, fit, places)
		except ValidationError as error:
			with pytest.raises(ValidationError) as raised:
				attribute_paths(rows, spec, fit, places)
			assert str(raised.value) == str(error)
			continue
		_same_totals(attribute_paths(rows, spec, fit, places), old)


def _cli_json(argv):
	out = io.StringIO()
	real = sys.stdout
	sys.stdout = out
	try:
		assert cli.main(argv) == 0
	finally:
		sys.stdout = real
	return out.getvalue()


def test_cli_json_is_byte_identical_to_the_reference_pipeline(tmp_path, monkeypatch):
	"""20,000 generated journeys (the benchmark's generator): every path model, old vs new pipeline."""
	sys.path.insert(0, str(ROOT / "benchmarks" / "attribution"))
	try:
		import generate
	finally:
		sys.path.remove(str(ROOT / "benchmarks" / "attribution"))
	file = tmp_path / "paths.csv"
	generate.write(generate.aggregate(20_000, 11), file)
	argv = ["attribute", "--paths", str(file), "--format", "json"]
	rule_based = [*argv]
	for spec in PATH_SPECS:
		rule_based += ["--model", spec]
	for spec in (*PATH_SPECS, "markov:order=1", "markov:order=2", "shapley"):
		argv += ["--model", spec]
	new = _cli_json(argv)
	new_rule_based = _cli_json(rule_based)

	def reference_runs(path, separator, delimiter, *_args, each=None, **_kwargs):
		table = PathTable.from_rows(reference_read_paths(path, separator, delimiter))
		return [each(table) if each else table]

	monkeypatch.setattr(cli, "read_path_runs", reference_runs)
	monkeypatch.setattr(
		cli, "attribute_paths", lambda paths, *args: reference_attribute_paths(as_rows(paths), *args)
	)
	assert new == _cli_json(argv)
	assert new_rule_based == _cli_json(rule_based)


# --- touchpoint files: the column reader against the csv module reader ------------------------------


def _read_touches_both(tmp_path, text):
	"""Both TP.csv readers on `text`: the same touches by journey, or the same one-line error."""
	file = tmp_path / "tp.csv"
	with open(file, "w", encoding="utf-8", newline="") as handle:
		handle.write(text)
	outcomes = []
	for reader in (_read_touchpoints, _touchpoints_csv):
		try:
			outcomes.append(("touches", dict(reader(file))))
		except ValidationError as error:
			outcomes.append(("error", str(error)))
	assert outcomes[0] == outcomes[1]
	return outcomes[0]


@st.composite
def touchpoint_files(draw):
	columns = ["journey_id", "timestamp", "channel"]
	for optional in ("touchpoint_id", "source", "medium", "campaign", "milestone"):
		if draw(st.booleans()):
			columns.append(optional)
	if draw(st.booleans()):
		columns = draw(st.permutations(columns))
	spaced = draw(st.integers(0, 4)) == 0
	lines = [",".join(f" {c} " if spaced else c for c in columns)]
	stamps = st.one_of(
		st.integers(0, 500).map(lambda h: f"2026-01-{1 + h // 24:02d}T{h % 24:02d}:00:00Z"),
		st.sampled_from(["2026-01-02T10:00:00+02:00", "2026-01-02 10:00:00+00:00", " 2026-01-03T00:00:00z "]),
	)
	bad_stamps = st.sampled_from(["2026-01-02T10:00:00", "x", "1800-01-01T00:00:00Z", ""])
	for _ in range(draw(st.integers(0, 15))):
		fields = {
			"journey_id": draw(st.sampled_from(["j1", "j2", "j3", " j1"])),
			"timestamp": draw(stamps),
			"channel": draw(st.sampled_from([*CHANNELS, " email "])),
			"touchpoint_id": draw(st.sampled_from(["", "t1", "t2", "t3", "t4", "t5", "t6", "t7"])),
			"source": draw(st.sampled_from(["", "google", " fb "])),
			"medium": draw(st.sampled_from(["", "cpc"])),
			"campaign": draw(st.sampled_from(["", "spring"])),
			"milestone": draw(st.sampled_from(["", "lead", "lead|won", " opportunity ", "|"])),
		}
		trouble = draw(st.integers(0, 25))
		if trouble == 0:
			fields["timestamp"] = draw(bad_stamps)
		elif trouble == 1:
			fields[draw(st.sampled_from(["journey_id", "channel"]))] = draw(st.sampled_from(["", "  "]))
		elif trouble == 2:
			fields["milestone"] = "bogus"
		elif trouble == 3:
			fields["channel"] = '"a,b"'
		lines.append(rough_line(draw, ",".join(fields[c] for c in columns), ","))
	return rough_file(draw, lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(touchpoint_files())
def test_touchpoint_columns_match_the_csv_module_reader(tmp_path, text):
	_read_touches_both(tmp_path, text)


def test_a_plain_touchpoint_file_is_read_by_columns(tmp_path):
	text = (
		"journey_id,timestamp,channel,touchpoint_id,milestone,source\n"
		"j1,2026-01-01T10:00:00Z,email,,lead,google\n"
		"j1,2026-01-01T11:00:00+01:00,direct,t9,,\n"
		"j2, 2026-01-02T10:00:00Z ,paid_search,,lead|won,\n"
	)
	touches = _touchpoints_plain(text)
	assert touches is not None and touches == _read_touches_both(tmp_path, text)[1]
	first, second = touches["j1"]
	assert (first.id, first.source, first.milestones) == ("j1#000000002", "google", frozenset({"lead"}))
	assert (second.id, second.source, second.timestamp.utcoffset().seconds) == ("t9", None, 3600)
	assert touches["j2"][0].milestones == frozenset({"lead", "won"})
