"""The standalone attribution CLI: `trackflow-attribution` / `python -m trackflow.engine`."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any

from trackflow.engine import ENGINE_VERSION
from trackflow.engine.attribution import (
	all_model_specs,
	attribute_paths,
	compare_models,
	fit_model,
	get_model_def,
	parse_model_spec,
)
from trackflow.engine.attribution.csv_input import gc_paused, read_journeys, read_paths
from trackflow.engine.errors import ValidationError

DATA = Path(__file__).resolve().parent / "data"
DEMO_TOUCHPOINTS = DATA / "demo_touchpoints.csv"
DEMO_CONVERSIONS = DATA / "demo_conversions.csv"
CENT = Decimal("0.01")

# One model table: label -> channel -> (conversions, value); fits: label -> fit object.
Table = dict[str, dict[str, tuple[float, Decimal]]]


def _expand(models: Sequence[str] | None) -> list[str]:
	specs: list[str] = []
	for given in models or ["last_touch"]:
		specs.extend(all_model_specs() if given == "all" else [given])
	for spec in specs:
		parse_model_spec(spec)
	return specs


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


def run_journeys(args: argparse.Namespace, specs: list[str]) -> dict[str, Any]:
	journeys = read_journeys(args.touchpoints, args.conversions)
	if args.lookback_days is not None:
		specs = [_with_lookback(s, args.lookback_days) for s in specs]
	comparison = compare_models(journeys, specs)
	out: dict[str, Any] = {
		"engine_version": ENGINE_VERSION,
		"conversions": comparison.conversions,
		"value": str(comparison.value),
		"models": {},
	}
	for label in comparison.models:
		out["models"][label] = comparison.cells[label]
	if comparison.fits:
		out["fits"] = {label: _fit_entry(fit) for label, fit in comparison.fits.items()}
	if args.detail:
		out["detail"] = {label: [r.to_dict() for r in rs] for label, rs in comparison.results.items()}
	return out


def _with_lookback(spec: str, days: float) -> str:
	parse_model_spec(spec)
	if "lookback_days" in spec.partition(":")[2]:
		return spec
	return f"{spec}{',' if ':' in spec else ':'}lookback_days={days:g}"


def run_paths(args: argparse.Namespace, specs: list[str]) -> dict[str, Any]:
	# Rule-based models read only the rows with conversions or value: the others are checked, not kept.
	converting_only = not any(get_model_def(parse_model_spec(s).name).data_driven for s in specs)
	paths = read_paths(args.paths, args.separator, args.delimiter, converting_only)
	if args.detail:
		raise ValidationError("--detail needs touchpoints and conversions, not --paths")
	conversions = sum(map(itemgetter(1), paths))
	out: dict[str, Any] = {
		"engine_version": ENGINE_VERSION,
		"conversions": conversions,
		"value": str(sum(map(itemgetter(2), paths), Decimal(0))),
		"models": {},
	}
	fits = {}
	for label in specs:
		spec = parse_model_spec(label)
		fit = fit_model(spec, paths) if get_model_def(spec.name).data_driven else None
		if fit is not None:
			fits[label] = fit
		out["models"][label] = attribute_paths(paths, spec, fit)
	if fits:
		out["fits"] = {label: _fit_entry(fit) for label, fit in fits.items()}
	return out


def _json(out: dict[str, Any]) -> str:
	data = dict(out)
	data["models"] = {
		label: {
			c: {"conversions": conv, "value": str(value.quantize(CENT))} for c, (conv, value) in cells.items()
		}
		for label, cells in out["models"].items()
	}
	return json.dumps(data, indent=2, sort_keys=False)


def _csv(out: dict[str, Any]) -> str:
	buffer = io.StringIO()
	writer = csv.writer(buffer, lineterminator="\n")
	writer.writerow(["model", "channel", "conversions", "value"])
	for label, cells in out["models"].items():
		for channel, (conv, value) in cells.items():
			writer.writerow([label, channel, f"{conv:.6f}", str(value.quantize(CENT))])
	return buffer.getvalue()


def _table(out: dict[str, Any]) -> str:
	models = list(out["models"])
	channels = sorted({c for cells in out["models"].values() for c in cells})
	lines = [
		f"TrackFlow attribution engine {out['engine_version']}: "
		f"{out['conversions']:g} conversions, value {out['value']}",
	]
	for title, pick in (("credited value", 1), ("credited conversions", 0)):
		width = max([len(c) for c in channels] + [7])
		cols = [max(len(m), 10) for m in models]
		lines.append("")
		lines.append(title)
		lines.append(
			"  ".join(["channel".ljust(width), *(m.rjust(w) for m, w in zip(models, cols, strict=True))])
		)
		for channel in channels:
			cells = []
			for m, w in zip(models, cols, strict=True):
				cell = out["models"][m].get(channel)
				if cell is None:
					text = "-"
				elif pick:
					text = str(cell[1].quantize(CENT))
				else:
					text = f"{cell[0]:.2f}"
				cells.append(text.rjust(w))
			lines.append("  ".join([channel.ljust(width), *cells]))
	for label, fit in out.get("fits", {}).items():
		suff = fit["sufficiency"]
		lines.append("")
		lines.append(f"fit {label}: {suff['verdict']} ({suff['message']})")
	return "\n".join(lines) + "\n"


FORMATS = {"table": _table, "json": _json, "csv": _csv}


def build_parser() -> argparse.ArgumentParser:
	parser = argparse.ArgumentParser(
		prog="trackflow-attribution", description="Multi-touch attribution on exported journeys."
	)
	sub = parser.add_subparsers(dest="command", required=True)
	attribute = sub.add_parser("attribute", help="attribute conversions to channels under one or more models")
	source = attribute.add_mutually_exclusive_group(required=True)
	source.add_argument("--touchpoints", type=Path, help="TP.csv: journey_id,timestamp,channel[,...]")
	source.add_argument("--paths", type=Path, help="aggregated paths: path;total_conversions;...")
	attribute.add_argument("--conversions", type=Path, help="CV.csv: journey_id,timestamp,value[,...]")
	attribute.add_argument(
		"--model",
		action="append",
		help="SPEC: name or name:key=value,...; 'all' for every model (repeatable)",
	)
	attribute.add_argument("--lookback-days", type=float, help="lookback window for every model (default 90)")
	attribute.add_argument("--format", choices=sorted(FORMATS), default="table")
	attribute.add_argument("--output", type=Path, help="write here instead of standard output")
	attribute.add_argument(
		"--detail", action="store_true", help="add per-conversion, per-touch credits (json)"
	)
	attribute.add_argument("--separator", default=">", help="channel separator in --paths (default >)")
	attribute.add_argument("--delimiter", default=";", help="column delimiter in --paths (default ;)")
	demo = sub.add_parser("demo", help="every model on a small bundled sample, as a comparison table")
	demo.add_argument("--format", choices=sorted(FORMATS), default="table")
	return parser


def main(argv: Sequence[str] | None = None) -> int:
	parser = build_parser()
	args = parser.parse_args(argv)
	# The run builds millions of small objects and no reference cycles: cyclic garbage collection
	# would only rescan them, again and again.
	with gc_paused():
		return _run(args)


def _run(args: argparse.Namespace) -> int:
	try:
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
		else:
			specs = _expand(args.model)
			if args.touchpoints is not None:
				if args.conversions is None:
					raise ValidationError("--touchpoints needs --conversions")
				out = run_journeys(args, specs)
			else:
				if args.lookback_days is not None:
					raise ValidationError("--lookback-days needs timestamps: use --touchpoints, not --paths")
				out = run_paths(args, specs)
		text = FORMATS[args.format](out)
		if args.output:
			args.output.write_text(text, encoding="utf-8")
		else:
			sys.stdout.write(text)
	except ValidationError as error:
		print(f"trackflow-attribution: error: {error}", file=sys.stderr)
		return 2
	except OSError as error:
		print(f"trackflow-attribution: error: {error.filename or ''}: {error.strerror}", file=sys.stderr)
		return 2
	return 0
