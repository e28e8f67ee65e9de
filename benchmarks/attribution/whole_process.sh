#!/usr/bin/env bash
# Whole-process comparison on the 1M-journey aggregate (seed 7): the trackflow-attribution CLI against a
# Python script that imports ChannelAttribution and pandas, reads the same CSV with pandas, runs the model
# and prints the result. TrackFlow runs as it does by default (a large file read and counted by one
# process per CPU it may use) and with --processes 1. hyperfine runs the commands of a case in one
# invocation; the cases are repeated ROUNDS times, alternating, and the summary gives the median of the
# rounds' ratios and each command's median over all runs; the load average at each round's start and
# end goes to load.log.
#
#   benchmarks/attribution/whole_process.sh            # ROUNDS=3 RUNS=5
#   ROUNDS=5 TOUCHPOINTS=1 benchmarks/attribution/whole_process.sh
#
# Needs hyperfine (Debian: apt-get install hyperfine), a venv with ChannelAttribution (CA_PYTHON, default
# /root/ca-venv/bin/python: python3 -m venv /root/ca-venv && /root/ca-venv/bin/pip install ChannelAttribution
# pandas matplotlib) and TrackFlow installed in TF_VENV (default .venv of the checkout). TOUCHPOINTS=1 also
# times --touchpoints/--conversions on 1M touches (TrackFlow alone, and a pandas script that builds the
# paths from the same files for ChannelAttribution), with peak memory from /usr/bin/time -v.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TF_VENV="${TF_VENV:-$ROOT/.venv}"
CA_PYTHON="${CA_PYTHON:-/root/ca-venv/bin/python}"
ROUNDS="${ROUNDS:-3}"
RUNS="${RUNS:-5}"
DATA="$ROOT/benchmarks/data"
OUT="$DATA/whole_process"
PATHS="$DATA/attribution_paths_1000000_7.csv"
TF="$TF_VENV/bin/trackflow-attribution"
mkdir -p "$OUT"

[ -f "$PATHS" ] || "$TF_VENV/bin/python" "$ROOT/benchmarks/attribution/generate.py" --journeys 1000000 --seed 7
# Bytecode as an installed package has it (pip compiles a wheel's modules at install; the editable
# checkout may have none, e.g. with PYTHONDONTWRITEBYTECODE set), as ChannelAttribution's venv has.
"$TF_VENV/bin/python" -m compileall -q "$ROOT/trackflow" > /dev/null

cat > "$OUT/ca_whole_process.py" <<'PY'
"""ChannelAttribution's whole process: import it and pandas, read the CSV, run one call, print the result."""
import sys

import ChannelAttribution as ca
import pandas as pd

model, path = sys.argv[1], sys.argv[2]
frame = pd.read_csv(path, sep=";")
if model == "markov":
	result = ca.markov_model(
		frame, "path", "total_conversions", var_value="total_conversion_value", var_null="total_null"
	)
else:
	result = ca.heuristic_models(frame, "path", "total_conversions", var_value="total_conversion_value")
print(result.to_string())
PY

cat > "$OUT/ca_touchpoints.py" <<'PY'
"""ChannelAttribution on TP.csv/CV.csv: pandas builds each journey's path (touches in time order), joins
the conversions and aggregates the paths; then one ChannelAttribution call, as ca_whole_process.py."""
import sys

import ChannelAttribution as ca
import pandas as pd

model, tp_path, cv_path = sys.argv[1:4]
touches = pd.read_csv(tp_path).sort_values(["journey_id", "timestamp"], kind="stable")
paths = touches.groupby("journey_id", sort=False)["channel"].agg(" > ".join).rename("path")
conversions = pd.read_csv(cv_path).groupby("journey_id")["value"].agg(["size", "sum"])
journeys = paths.to_frame().join(conversions, how="left").fillna(0)
journeys["null"] = (journeys["size"] == 0).astype(int)
frame = journeys.groupby("path", as_index=False).agg(
	total_conversions=("size", "sum"), total_conversion_value=("sum", "sum"), total_null=("null", "sum")
)
if model == "markov":
	result = ca.markov_model(
		frame, "path", "total_conversions", var_value="total_conversion_value", var_null="total_null"
	)
else:
	result = ca.heuristic_models(frame, "path", "total_conversions", var_value="total_conversion_value")
print(result.to_string())
PY

log() { echo "$(date -u +%FT%TZ) $(cut -d' ' -f1-3 /proc/loadavg) $*" | tee -a "$OUT/load.log"; }

run_case() {  # name, round, TrackFlow arguments, ChannelAttribution model
	local name="$1" round="$2" args="$3" model="$4"
	log "$name round $round start"
	hyperfine -N --warmup 1 --runs "$RUNS" --style basic \
		--export-json "$OUT/${name}_r$round.json" --export-markdown "$OUT/${name}_r$round.md" \
		-n trackflow "$TF attribute --paths $PATHS $args" \
		-n trackflow-1-process "$TF attribute --paths $PATHS $args --processes 1" \
		-n channelattribution "$CA_PYTHON $OUT/ca_whole_process.py $model $PATHS"
	log "$name round $round end"
}

: > "$OUT/load.log"
for round in $(seq 1 "$ROUNDS"); do
	run_case markov "$round" "--model markov:order=1" markov
	run_case heuristics "$round" "--model first_touch --model last_touch --model linear" heuristic
done

peak() {  # label, command...: peak resident memory of one run
	local label="$1"
	shift
	/usr/bin/time -v "$@" 2> "$OUT/time_v.txt" > /dev/null
	echo "$label: $(grep -E 'Maximum resident' "$OUT/time_v.txt" | awk '{print $NF}') KB max RSS," \
		"$(grep -E 'Elapsed' "$OUT/time_v.txt" | awk '{print $NF}') elapsed" | tee -a "$OUT/memory.txt"
}
: > "$OUT/memory.txt"
peak "trackflow markov" "$TF" attribute --paths "$PATHS" --model markov:order=1
peak "trackflow markov, 1 process" "$TF" attribute --paths "$PATHS" --model markov:order=1 --processes 1
peak "trackflow heuristics" "$TF" attribute --paths "$PATHS" --model first_touch --model last_touch --model linear
peak "trackflow heuristics, 1 process" "$TF" attribute --paths "$PATHS" --model first_touch --model last_touch \
	--model linear --processes 1
peak "channelattribution markov" "$CA_PYTHON" "$OUT/ca_whole_process.py" markov "$PATHS"
peak "channelattribution heuristics" "$CA_PYTHON" "$OUT/ca_whole_process.py" heuristic "$PATHS"

if [ "${TOUCHPOINTS:-0}" = 1 ]; then
	"$TF_VENV/bin/python" "$ROOT/benchmarks/attribution/generate.py" --touches 1000000 --seed 7
	TP="$DATA/attribution_touchpoints_1000000_7.csv"
	CV="$DATA/attribution_conversions_1000000_7.csv"
	for case in "heuristics|--model first_touch --model last_touch --model linear|heuristic" \
		"markov|--model markov:order=1|markov"; do
		IFS="|" read -r name args model <<< "$case"
		log "touchpoints $name start"
		hyperfine -N --warmup 0 --runs 3 --style basic \
			--export-json "$OUT/touchpoints_$name.json" --export-markdown "$OUT/touchpoints_$name.md" \
			-n trackflow "$TF attribute --touchpoints $TP --conversions $CV $args" \
			-n channelattribution "$CA_PYTHON $OUT/ca_touchpoints.py $model $TP $CV"
		log "touchpoints $name end"
		peak "trackflow touchpoints $name" "$TF" attribute --touchpoints "$TP" --conversions "$CV" $args
		peak "channelattribution touchpoints $name" "$CA_PYTHON" "$OUT/ca_touchpoints.py" "$model" "$TP" "$CV"
	done
fi

"$TF_VENV/bin/python" - "$OUT" <<'PY'
"""Per case: the median over the rounds of TrackFlow's median / ChannelAttribution's median in the same
hyperfine invocation (so both saw the same load), and each command's median over all runs."""
import json
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1])
for case in ("markov", "heuristics"):
	names = ("trackflow", "trackflow-1-process", "channelattribution")
	times = {name: [] for name in names}
	user = {name: [] for name in names}
	ratios = {name: [] for name in names[:2]}
	for file in sorted(out.glob(f"{case}_r*.json")):
		medians = {}
		for result in json.loads(file.read_text())["results"]:
			times[result["command"]].extend(result["times"])
			user[result["command"]].append(result["user"])  # the round's mean user CPU time
			medians[result["command"]] = result["median"]
		for name in ratios:
			ratios[name].append(medians[name] / medians["channelattribution"])
	for name, found in ratios.items():
		print(
			f"{case} {name}: ratio {statistics.median(found):.2f}x (median of the rounds' ratios of"
			f" medians: {', '.join(f'{r:.2f}' for r in found)}); over all {len(times[name])} runs each"
			f" median {statistics.median(times[name]):.3f} s (user CPU, median of the rounds' means,"
			f" {statistics.median(user[name]):.3f} s),"
			f" ChannelAttribution {statistics.median(times['channelattribution']):.3f} s"
			f" (user CPU {statistics.median(user['channelattribution']):.3f} s)"
		)
for file in sorted(out.glob("touchpoints_*.json")):
	medians = {r["command"]: r["median"] for r in json.loads(file.read_text())["results"]}
	print(f"{file.stem}: " + ", ".join(f"{k} median {v:.2f} s" for k, v in medians.items()))
PY
cat "$OUT/memory.txt"
