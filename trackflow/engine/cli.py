"""The standalone attribution CLI: `trackflow-attribution` / `python -m trackflow.engine`."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import textwrap
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

import trackflow
from trackflow.engine import ENGINE_VERSION
from trackflow.engine.attribution import (
	INSUFFICIENT_DATA,
	MODELS,
	NO_TOUCHPOINTS,
	all_model_specs,
	attribute_paths,
	compare_models,
	fit_model,
	get_model_def,
	parse_model_spec,
)
from trackflow.engine.attribution.aggregate import NEEDS_TIMESTAMPS
from trackflow.engine.attribution.csv_input import (
	MAX_VALUE,
	MAX_VALUE_TEXT,
	PATH_COLUMNS,
	check_text_file,
	gc_paused,
	read_journeys,
	read_path_runs,
	reading,
)
from trackflow.engine.attribution.markov import MarkovCounts
from trackflow.engine.attribution.types import PathTable
from trackflow.engine.errors import ValidationError
from trackflow.engine.money import minor_units
from trackflow.engine.parallel import cores

PROG = "trackflow-attribution"
DATA = Path(__file__).resolve().parent / "data"
DEMO_TOUCHPOINTS = DATA / "demo_touchpoints.csv"
DEMO_CONVERSIONS = DATA / "demo_conversions.csv"
PATHS_PLACES = 2  # aggregated paths carry no currency: values are split in hundredths
UNATTRIBUTED = "(unattributed)"
SKIPPED_ON_PATHS = "needs timestamps or milestones: give --touchpoints and --conversions"
# Why a conversion got no credit under a model: code -> short label for the table.
REASONS = {
	"no_touches": "no touches",
	"outside_lookback": "outside lookback",
	"insufficient_data": "insufficient data",
}
MAX_MESSAGE = 400
WIDTH = 100  # notes in the table wrap here


def _reason_order(item: tuple[str, Any]) -> int:
	return list(REASONS).index(item[0]) if item[0] in REASONS else len(REASONS)


def _expand(models: Sequence[str] | None) -> tuple[list[str], set[str]]:
	"""The model specs to run and those of them that came from 'all' (skippable where they cannot run)."""
	specs: list[str] = []
	from_all: set[str] = set()
	for given in models or ["last_touch"]:
		if given.strip() == "all":
			specs.extend(all_model_specs())
			from_all.update(all_model_specs())
		else:
			specs.append(given)
	for spec in specs:
		parse_model_spec(spec)
	return list(dict.fromkeys(specs)), from_all


def _fit_entry(fit: Any) -> dict[str, Any]:
	data = fit.to_dict()
	entry = {"channel_weights": data["channel_weights"]}
	if fit.model == "markov":
		entry["removal_effects"] = data["removal_effects"]
	else:
		entry["shapley_values"] = data["shapley_values"]
	entry["global_share"] = data["global_share"]
	entry["sufficiency"] = data["sufficiency"]
	return entry


def _insufficient_why(label: str, fits: dict[str, dict[str, Any]]) -> str:
	message = fits[label]["sufficiency"]["message"] if label in fits else "not enough data"
	return f"the {parse_model_spec(label).name} fit has too little data ({message})"


def _header(currency: str | None, places: int) -> dict[str, Any]:
	return {
		"trackflow_version": trackflow.__version__,
		"engine_version": ENGINE_VERSION,
		"currency": currency,
		"places": places,
	}


def run_journeys(args: argparse.Namespace, specs: list[str]) -> dict[str, Any]:
	journeys = read_journeys(args.touchpoints, args.conversions)
	if args.lookback_days is not None:
		specs = [_with_lookback(s, args.lookback_days) for s in specs]
	comparison = compare_models(journeys, specs)
	out = _header(comparison.currency, minor_units(comparison.currency))
	out.update(
		conversions=comparison.conversions,
		value=comparison.value,
		models={label: comparison.cells[label] for label in comparison.models},
		unattributed={},
	)
	if comparison.fits:
		out["fits"] = {label: _fit_entry(fit) for label, fit in comparison.fits.items()}
	# compare_models attributes the conversions in this order, one result each.
	pairs = [(j, c) for j in journeys for c in j.conversions]
	for label, outcomes in comparison.results.items():
		lookback = parse_model_spec(label).get("lookback_days")
		reasons: dict[str, list[Any]] = {}
		for (journey, conversion), outcome in zip(pairs, outcomes, strict=True):
			if outcome.credits:
				continue
			if outcome.reason == NO_TOUCHPOINTS:
				before = any(t.timestamp <= conversion.timestamp for t in journey.touchpoints)
				code = "outside_lookback" if before else "no_touches"
			else:
				code = outcome.reason or "not_credited"
			entry = reasons.setdefault(code, [0, Decimal(0)])
			entry[0] += 1
			entry[1] += conversion.value
		whys = {
			"no_touches": "no touch at or before the conversion",
			"outside_lookback": f"every touch is more than {lookback:g} days (lookback_days) before the conversion",
		}
		out["unattributed"][label] = {
			code: (
				n,
				value,
				_insufficient_why(label, out.get("fits", {}))
				if code == INSUFFICIENT_DATA
				else whys.get(code, code),
			)
			for code, (n, value) in sorted(reasons.items(), key=_reason_order)
		}
	if args.detail:
		out["detail"] = {label: [r.to_dict() for r in rs] for label, rs in comparison.results.items()}
	return out


def _with_lookback(spec: str, days: float) -> str:
	parse_model_spec(spec)
	if "lookback_days" in spec.partition(":")[2]:
		return spec
	return f"{spec}{',' if ':' in spec else ':'}lookback_days={days:g}"


DELIMITER_NAMES = {",": ",", ";": "';'", "\t": "$'\\t'", "|": "'|'"}


def _read_path_file(
	path: Path, separator: str, delimiter: str, converting_only: bool, each: Any, processes: int
) -> list[Any]:
	if len(delimiter) != 1:
		raise ValidationError(f"--delimiter must be one character, got {delimiter!r}")
	if not separator.strip():
		raise ValidationError("--separator must not be empty")
	header = check_text_file(path, PATH_COLUMNS)
	if PATH_COLUMNS[0] not in [c.strip() for c in header.split(delimiter)]:
		for other, shown in DELIMITER_NAMES.items():
			if other != delimiter and PATH_COLUMNS[0] in [c.strip() for c in header.split(other)]:
				raise ValidationError(
					f"{path}: missing column 'path' with --delimiter {DELIMITER_NAMES.get(delimiter, repr(delimiter))}:"
					f" the header is {other!r}-separated; use --delimiter {shown}"
				)
	with reading(path):
		return read_path_runs(
			path, separator, delimiter, converting_only, places=PATHS_PLACES, processes=processes, each=each
		)


def _counted(table: PathTable, orders: tuple[int, ...]) -> tuple[PathTable, dict[int, MarkovCounts]]:
	"""A run of paths as Markov fits and rule-based splits need it: the Markov counts of every row, and
	only the rows with conversions or value (all a split reads)."""
	counts = {order: MarkovCounts.of(table, order) for order in orders}
	return table.take(table.kept()), counts


def run_paths(args: argparse.Namespace, specs: list[str], from_all: set[str]) -> dict[str, Any]:
	parsed = [parse_model_spec(s) for s in specs]
	# Rule-based models read only the rows with conversions or value: the others are checked, not kept.
	# Markov fits read every row, counted where it is read (a large file by several processes), so that
	# only the rows with conversions or value are kept; Shapley reads every row.
	orders = tuple(sorted({spec.get("order") for spec in parsed if spec.name == "markov"}))
	every_row = any(get_model_def(spec.name).data_driven and spec.name != "markov" for spec in parsed)
	each = partial(_counted, orders=orders) if orders and not every_row else None
	processes = args.processes or cores()
	converting_only = not orders and not every_row
	runs = _read_path_file(args.paths, args.separator, args.delimiter, converting_only, each, processes)
	counts: dict[int, MarkovCounts] = {}
	if each is not None:
		counts = {order: MarkovCounts.sum([run[1][order] for run in runs]) for order in orders}
		runs = [run[0] for run in runs]
	paths = PathTable.concat(runs)
	if args.detail:
		raise ValidationError("--detail needs touchpoints and conversions, not --paths")
	conversions = sum(paths.conversions)
	value = sum(paths.values, Decimal(0))
	out = _header(None, PATHS_PLACES)
	out.update(conversions=conversions, value=value, models={}, unattributed={}, skipped={})
	fits = {}
	for label in specs:
		spec = parse_model_spec(label)
		if spec.name in NEEDS_TIMESTAMPS and label in from_all:
			out["skipped"][label] = SKIPPED_ON_PATHS
			continue
		fit = None
		if get_model_def(spec.name).data_driven:
			fit = fit_model(
				spec, counts.get(spec.get("order"), paths) if spec.name == "markov" else paths, processes
			)
		if fit is not None:
			fits[label] = fit
		out["models"][label] = attribute_paths(paths, spec, fit)
		out["unattributed"][label] = {}
		if fit is not None and not fit.sufficient:
			out["unattributed"][label][INSUFFICIENT_DATA] = (conversions, value, None)
	if fits:
		out["fits"] = {label: _fit_entry(fit) for label, fit in fits.items()}
	for label, reasons in out["unattributed"].items():
		if INSUFFICIENT_DATA in reasons:
			n, missing, _ = reasons[INSUFFICIENT_DATA]
			reasons[INSUFFICIENT_DATA] = (n, missing, _insufficient_why(label, out["fits"]))
	return out


def _money(value: Decimal, places: int, grouped: bool = False) -> str:
	value = value.quantize(Decimal(1).scaleb(-places))
	return f"{value:,f}" if grouped else str(value)


def _unattributed_total(out: dict[str, Any], label: str) -> tuple[float, Decimal]:
	reasons = out["unattributed"].get(label, {})
	return sum(n for n, _, _ in reasons.values()), sum((v for _, v, _ in reasons.values()), Decimal(0))


def _json(out: dict[str, Any]) -> str:
	places = out["places"]
	data = {k: v for k, v in out.items() if k not in ("models", "unattributed", "places", "detail", "fits")}
	data["value"] = _money(out["value"], places)
	data["models"] = {}
	for label, cells in out["models"].items():
		model = {
			c: {"conversions": conv, "value": _money(value, places)} for c, (conv, value) in cells.items()
		}
		n, missing = _unattributed_total(out, label)
		model[UNATTRIBUTED] = {
			"conversions": n,
			"value": _money(missing, places),
			"reasons": {
				code: {"conversions": count, "value": _money(v, places), "why": why}
				for code, (count, v, why) in out["unattributed"][label].items()
			},
		}
		data["models"][label] = model
	for key in ("fits", "detail"):
		if key in out:
			data[key] = out[key]
	return json.dumps(data, indent=2)


def _csv(out: dict[str, Any]) -> str:
	places = out["places"]
	buffer = io.StringIO()
	writer = csv.writer(buffer, lineterminator="\n")
	writer.writerow(["model", "channel", "conversions", "value", "reason", "why"])
	for label, cells in out["models"].items():
		for channel, (conv, value) in cells.items():
			writer.writerow([label, channel, f"{conv:.6f}", _money(value, places), "", ""])
		reasons = out["unattributed"][label] or {"": (0, Decimal(0), "")}
		for code, (n, value, why) in reasons.items():
			writer.writerow([label, UNATTRIBUTED, f"{n:.6f}", _money(value, places), code, why])
	return buffer.getvalue()


def _param_text(label: str, paths: bool) -> str:
	params = [(k, v) for k, v in parse_model_spec(label).params if not (paths and k == "lookback_days")]
	return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params)


def _share(value: Decimal, total: Decimal) -> str:
	return f"{value / total * 100:.1f} %" if total else "-"


def _grid(rows: list[tuple[str, ...]]) -> list[str]:
	widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
	return [
		"  ".join(
			[r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))]
		).rstrip()
		for r in rows
	]


def _table(out: dict[str, Any]) -> str:
	"""One block per model (channel, credited conversions, value, share of value; the unattributed
	conversions by reason; the total), so the width depends on the channel names only."""
	places, total = out["places"], out["value"]
	currency = out["currency"]
	lines = [f"TrackFlow {out['trackflow_version']} (attribution engine {out['engine_version']})"]
	if out.get("sample"):
		lines.append(out["sample"])
	lines.append(
		f"{out['conversions']:,g} conversions, value {_money(total, places, True)} "
		+ (currency if currency else "(aggregated paths carry no currency)")
	)
	if out.get("skipped"):
		lines.append(f"skipped ({SKIPPED_ON_PATHS}): {', '.join(out['skipped'])}")
	for label, cells in out["models"].items():
		params = _param_text(label, paths=currency is None)
		lines += ["", label, f"  {MODELS[parse_model_spec(label).name].summary}"]
		if params:
			lines.append(f"  {params}")
		rows = [("channel", "conversions", "value", "share")]
		for channel, (conv, value) in cells.items():
			rows.append((channel, f"{conv:,.2f}", _money(value, places, True), _share(value, total)))
		n, missing = _unattributed_total(out, label)
		rows.append((UNATTRIBUTED, f"{n:,.2f}", _money(missing, places, True), _share(missing, total)))
		reasons = out["unattributed"][label]
		for code, (count, value, _why) in reasons.items():
			rows.append(
				(
					f"  {REASONS.get(code, code)}",
					f"{count:,.2f}",
					_money(value, places, True),
					_share(value, total),
				)
			)
		rows.append(
			("total", f"{out['conversions']:,.2f}", _money(total, places, True), _share(total, total))
		)
		lines += _grid(rows)
		for code, (_count, _value, why) in reasons.items():
			note = f"{REASONS.get(code, code)}: {why}"
			lines += textwrap.wrap(note, WIDTH, initial_indent="  ", subsequent_indent="    ")
	for label, fit in out.get("fits", {}).items():
		suff = fit["sufficiency"]
		if suff["verdict"] == "insufficient":
			continue  # its block says so
		lines.append("")
		lines.append(f"fit {label}: {suff['verdict']} ({suff['message']})")
	return "\n".join(lines) + "\n"


FORMATS = {"table": _table, "json": _json, "csv": _csv}


def models_help() -> str:
	"""Every model of the registry with its parameters and defaults, for --help."""
	lines = ["models (SPEC is a name or name:key=value,...; 'all' runs every model):"]
	width = max(len(name) for name in MODELS) + 2
	for model in MODELS.values():
		tags = (["data-driven, fitted on the input"] if model.data_driven else []) + (
			["needs --touchpoints"] if model.name in NEEDS_TIMESTAMPS else []
		)
		params = [
			f"{p.name}={p.default:g}" if isinstance(p.default, float) else f"{p.name}={p.default}"
			for p in model.params
		]
		if model.name == "custom":
			params.insert(0, "first=, middle=, last= or channel.<name>= (required, summing to 1)")
		lines.append(f"  {model.name:<{width}}{model.summary}")
		lines.append(f"  {'':<{width}}{', '.join(params)}" + (f" [{'; '.join(tags)}]" if tags else ""))
	lines.append("example: --model linear --model position_based:first=0.3,last=0.3 --model markov:order=2")
	return "\n".join(lines)


def version_text() -> str:
	return (
		f"{PROG} {trackflow.__version__} (TrackFlow package)\n"
		f"attribution engine {ENGINE_VERSION} (stamped on every credit; it changes only when the same"
		" input would get different credits)"
	)


MAX_PROCESSES = 64


def _processes(text: str) -> int:
	try:
		number = int(text)
	except ValueError:
		number = 0
	if not 1 <= number <= MAX_PROCESSES:
		raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_PROCESSES}, got {text!r}")
	return number


def build_parser() -> argparse.ArgumentParser:
	formatter = argparse.RawDescriptionHelpFormatter
	parser = argparse.ArgumentParser(
		prog=PROG,
		description="Multi-touch attribution on exported journeys.",
		epilog=models_help(),
		formatter_class=formatter,
	)
	parser.add_argument("--version", action="version", version=version_text())
	sub = parser.add_subparsers(dest="command", required=True)
	attribute = sub.add_parser(
		"attribute",
		help="attribute conversions to channels under one or more models",
		description="Attribute conversions to channels; every unit of value is either credited to a channel\n"
		"or listed as (unattributed) with the reason.",
		epilog=models_help(),
		formatter_class=formatter,
	)
	source = attribute.add_mutually_exclusive_group(required=True)
	source.add_argument("--touchpoints", type=Path, help="TP.csv: journey_id,timestamp,channel[,...]")
	source.add_argument("--paths", type=Path, help="aggregated paths: path;total_conversions;...")
	attribute.add_argument("--conversions", type=Path, help="CV.csv: journey_id,timestamp,value[,...]")
	attribute.add_argument(
		"--model",
		action="append",
		help="SPEC: name or name:key=value,...; 'all' for every model (repeatable; default last_touch)",
	)
	attribute.add_argument("--lookback-days", type=float, help="lookback window for every model (default 90)")
	attribute.add_argument("--format", choices=sorted(FORMATS), default="table")
	attribute.add_argument("--output", type=Path, help="write here instead of standard output")
	attribute.add_argument(
		"--detail", action="store_true", help="add per-conversion, per-touch credits (json)"
	)
	attribute.add_argument("--separator", default=">", help="channel separator in --paths (default >)")
	attribute.add_argument("--delimiter", default=";", help="column delimiter in --paths (default ;)")
	attribute.add_argument(
		"--processes",
		type=_processes,
		help="processes to read a large --paths file and fit Markov on it with (default: the CPUs this"
		" process may use, at most 8; 1 for none)",
	)
	demo = sub.add_parser("demo", help="every model on a small bundled sample, one block per model")
	demo.add_argument("--format", choices=sorted(FORMATS), default="table")
	return parser


def _run(args: argparse.Namespace) -> None:
	notes = []
	if args.command == "demo":
		args = argparse.Namespace(
			touchpoints=DEMO_TOUCHPOINTS,
			conversions=DEMO_CONVERSIONS,
			lookback_days=None,
			detail=False,
			format=args.format,
			output=None,
		)
		out = run_journeys(args, all_model_specs())
		out["sample"] = (
			f"Sample data generated for this demo (not real customers); values in {out['currency']}."
		)
		notes.append(out["sample"])
	else:
		specs, from_all = _expand(args.model)
		if args.touchpoints is not None:
			if args.conversions is None:
				raise ValidationError("--touchpoints needs --conversions")
			out = run_journeys(args, specs)
		else:
			if args.lookback_days is not None:
				raise ValidationError("--lookback-days needs timestamps: use --touchpoints, not --paths")
			out = run_paths(args, specs, from_all)
			if out["skipped"]:
				notes.append(f"skipped {', '.join(out['skipped'])}: {SKIPPED_ON_PATHS}")
	text = FORMATS[args.format](out)
	if args.format == "csv":
		for note in notes:  # the CSV holds data only; what it leaves out is said on stderr
			print(f"{PROG}: note: {note}", file=sys.stderr)
	if args.output:
		args.output.write_text(text, encoding="utf-8")
	else:
		sys.stdout.write(text)


def _fail(message: str) -> int:
	message = " ".join(message.split("\n"))
	if len(message) > MAX_MESSAGE:
		message = message[: MAX_MESSAGE - 3] + "..."
	print(f"{PROG}: error: {message}", file=sys.stderr)
	return 2


def main(argv: Sequence[str] | None = None) -> int:
	"""Run the CLI; bad input of any kind ends in one line `trackflow-attribution: error: ...` on
	stderr and exit code 2, never a traceback."""
	args = build_parser().parse_args(argv)
	try:
		# The run builds millions of small objects and no reference cycles: cyclic garbage collection
		# would only rescan them, again and again.
		with gc_paused():
			_run(args)
	except ValidationError as error:
		return _fail(str(error))
	except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as cat does
		os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
		return 0
	except OSError as error:
		if error.filename is not None:
			return _fail(f"{error.filename}: {error.strerror or error}")
		return _fail(error.strerror or str(error))
	except Exception as error:  # a reader or model failing in a way nobody foresaw: still one line
		return _fail(f"internal error ({type(error).__name__}: {error}); please report it with the input")
	return 0
