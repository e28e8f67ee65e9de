"""Attribution engine benchmark against ChannelAttribution on the same aggregated paths.

Run with a Python that has ChannelAttribution (benchmark-only, GPL) to get the comparison, e.g.
  /root/bench-venv/bin/python benchmarks/attribution/bench.py
Without it, only TrackFlow's own figures are printed. Times are the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from contextlib import redirect_stdout
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate

from trackflow.engine.attribution import (
	Conversion,
	Touchpoint,
	all_model_specs,
	attribute,
	attribute_paths,
	fit_markov,
	fit_shapley,
)
from trackflow.engine.attribution.csv_input import read_path_table


def best(fn, repeat):
	times, result = [], None
	for _ in range(repeat):
		start = time.perf_counter()
		result = fn()
		times.append(time.perf_counter() - start)
	return min(times), result


def channel_attribution():
	try:
		with redirect_stdout(io.StringIO()):
			import ChannelAttribution as ca
			import pandas as pd
	except ImportError:
		return None, None
	return ca, pd


def per_conversion(repeat: int) -> dict[str, float]:
	t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
	channels = generate.CHANNELS
	touches = [
		Touchpoint(
			f"t{i:02d}",
			t0 + timedelta(hours=7 * i),
			channels[i % 12],
			milestones=frozenset({"lead"} if i == 10 else {"opportunity"} if i == 30 else ()),
		)
		for i in range(50)
	]
	conversion = Conversion("c", t0 + timedelta(days=16), Decimal("1234.56"))
	rows = [
		(tuple(channels[(i + j) % 12] for j in range(1 + i % 5)), i % 3, Decimal(0), 5) for i in range(400)
	]
	fits = {"markov": fit_markov(rows, min_journeys=0), "shapley": fit_shapley(rows, min_journeys=0)}
	out = {}
	n = 2000
	for spec in all_model_specs():
		fit = fits.get(spec.partition(":")[0])
		elapsed, _ = best(
			lambda spec=spec, fit=fit: [attribute(conversion, touches, spec, fit) for _ in range(n)], repeat
		)
		out[spec] = elapsed / n * 1e6
	return out


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--sizes", default="10000,100000,1000000")
	parser.add_argument("--repeat", type=int, default=3)
	args = parser.parse_args(argv)
	ca, pd = channel_attribution()
	print(f"python {sys.version.split()[0]}; ChannelAttribution: {'yes' if ca else 'not installed'}")
	for size in (int(s) for s in args.sizes.split(",")):
		csv_path = generate.dataset(size)
		parse, rows = best(lambda csv_path=csv_path: read_path_table(csv_path), 1)
		print(f"\n== {size:,} journeys: {len(rows):,} distinct paths (read_path_table {parse:.2f} s)")
		t_markov, fit = best(lambda rows=rows: fit_markov(rows, order=1), args.repeat)
		t_shapley, _ = best(lambda rows=rows: fit_shapley(rows), args.repeat)

		# the three on a fresh table each time: the converting rows a table keeps are part of the work
		def three(rows=rows):
			table = replace(rows)
			return {m: attribute_paths(table, m) for m in ("first_touch", "last_touch", "linear")}

		t_heur, heuristics = best(three, args.repeat)
		print(f"trackflow markov order 1 exact: {t_markov:.3f} s")
		print(f"trackflow first+last+linear:    {t_heur:.3f} s")
		print(f"trackflow shapley exact (12 ch): {t_shapley:.3f} s")
		if size == max(int(s) for s in args.sizes.split(",")):
			for order in (2, 3):
				elapsed, higher = best(lambda rows=rows, order=order: fit_markov(rows, order=order), 1)
				states = len({tuple(a) for a, _b, _w in higher.transitions}) - 1
				print(f"trackflow markov order {order}: {elapsed:.3f} s, {states} states")
		if ca is None:
			continue
		frame = pd.read_csv(csv_path, sep=";")
		with redirect_stdout(io.StringIO()):
			t_ca_markov, ca_markov = best(
				lambda frame=frame: ca.markov_model(
					frame,
					"path",
					"total_conversions",
					var_value="total_conversion_value",
					var_null="total_null",
				),
				args.repeat,
			)
			t_ca_heur, ca_heur = best(
				lambda frame=frame: ca.heuristic_models(
					frame, "path", "total_conversions", var_value="total_conversion_value"
				),
				args.repeat,
			)
		ca_share = dict(zip(ca_markov["channel_name"], ca_markov["total_conversions"], strict=True))
		deviation = max(
			abs(ca_share[c] - fit.global_share[c]) / fit.global_share[c] for c in fit.global_share
		)
		print(
			f"ChannelAttribution markov_model:    {t_ca_markov:.3f} s -> ratio {t_markov / t_ca_markov:.2f}x"
		)
		print(f"ChannelAttribution heuristic_models: {t_ca_heur:.3f} s -> ratio {t_heur / t_ca_heur:.2f}x")
		print(
			f"ChannelAttribution markov deviation from exact: max {deviation:.2%} of a channel's conversions"
		)
		worst_conv = worst_value = 0.0
		for model, column in (
			("first_touch", "first_touch"),
			("last_touch", "last_touch"),
			("linear", "linear_touch"),
		):
			ca_conv = dict(zip(ca_heur["channel_name"], ca_heur[f"{column}_conversions"], strict=True))
			ca_value = dict(zip(ca_heur["channel_name"], ca_heur[f"{column}_value"], strict=True))
			for channel, (conv, value) in heuristics[model].items():
				worst_conv = max(worst_conv, abs(conv - ca_conv[channel]))
				worst_value = max(worst_value, abs(float(value) - ca_value[channel]))
		print(
			f"heuristics vs ChannelAttribution: max |Δ conversions| {worst_conv:.2e}, max |Δ value| {worst_value:.4f}"
		)
	print("\nper-conversion attribute(), 50 touches (µs per conversion):")
	for spec, micro in per_conversion(args.repeat).items():
		print(f"  {spec:40s} {micro:8.1f}")
	return 0


if __name__ == "__main__":
	sys.exit(main())
