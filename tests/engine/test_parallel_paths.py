"""Large --paths files read and fitted by forked processes give what one process gives, byte for byte.

Everything that forks runs in a fresh interpreter (the CLI, or `python -c`): pytest's own process may
hold threads (a browser test's driver) whose locks a forked child would inherit locked."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trackflow.engine.attribution.csv_input import PARALLEL_BYTES
from trackflow.engine.attribution.markov import PARALLEL_ROWS
from trackflow.engine.parallel import cores

ROOT = Path(__file__).resolve().parents[2]
PATH_MODELS = ["first_touch", "last_touch", "linear", "position_based", "markov:order=1", "markov:order=2"]


@pytest.fixture(scope="module")
def large_paths(tmp_path_factory):
	"""An aggregate above both thresholds (the benchmark's generator, 230k journeys)."""
	sys.path.insert(0, str(ROOT / "benchmarks" / "attribution"))
	try:
		import generate
	finally:
		sys.path.remove(str(ROOT / "benchmarks" / "attribution"))
	file = tmp_path_factory.mktemp("large") / "paths.csv"
	generate.write(generate.aggregate(230_000, 5), file)
	assert file.stat().st_size >= PARALLEL_BYTES
	assert file.read_text().count("\n") - 1 >= PARALLEL_ROWS
	return file


def cli(*argv: str) -> subprocess.CompletedProcess:
	return subprocess.run(
		[sys.executable, "-m", "trackflow.engine", *argv], capture_output=True, text=True, timeout=600
	)


@pytest.mark.parametrize(
	"models",
	[PATH_MODELS, ["first_touch", "last_touch", "linear"], ["shapley", "markov:order=1"]],
	ids=["markov and rules", "rules only", "shapley (every row kept)"],
)
def test_forked_reading_and_fitting_give_the_same_output(large_paths, models):
	argv = ["attribute", "--paths", str(large_paths), "--format", "json"]
	for model in models:
		argv += ["--model", model]
	one = cli(*argv, "--processes", "1")
	three = cli(*argv, "--processes", "3")
	assert one.returncode == 0, one.stderr
	assert three.returncode == 0, three.stderr
	assert three.stdout == one.stdout
	assert '"conversions"' in one.stdout


def test_a_bad_row_in_a_forked_run_is_named_as_one_process_names_it(large_paths, tmp_path):
	lines = large_paths.read_text().splitlines(keepends=True)
	lines[-7] = "direct >  > email;1;5.00;3\n"  # a blank channel in the last run
	bad = tmp_path / "bad.csv"
	bad.write_text("".join(lines))
	argv = ["attribute", "--paths", str(bad), "--model", "markov:order=1"]
	one = cli(*argv, "--processes", "1")
	three = cli(*argv, "--processes", "3")
	assert one.returncode == three.returncode == 2
	assert three.stderr == one.stderr
	assert f"row {len(lines) - 6}: field path: empty channel" in one.stderr


def test_processes_is_checked():
	result = cli("attribute", "--paths", "x.csv", "--processes", "0")
	assert result.returncode == 2 and "--processes: must be a whole number from 1 to 64" in result.stderr


def run_python(code: str) -> str:
	result = subprocess.run(
		[sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
	)
	assert result.returncode == 0, result.stderr
	return result.stdout


def test_fork_map_keeps_order_and_turns_a_failed_child_into_none():
	out = run_python(
		"""
		import os
		from trackflow.engine.parallel import fork_map

		def work(n):
			if n == 3:
				raise ValueError("child fails")
			if n == 4:
				os._exit(9)  # dies without a word
			return (n * n, os.getpid())

		results = fork_map(work, [1, 2, 3, 4, 5])
		parent = os.getpid()
		print([r if r is None else r[0] for r in results])
		print(results[0][1] == parent, len({r[1] for r in results if r}) == 3)
		try:
			fork_map(work, [3, 1])
		except ValueError as error:
			print("parent raises:", error)
		"""
	)
	assert out.splitlines() == ["[1, 4, None, None, 25]", "True True", "parent raises: child fails"]


def test_no_fork_beside_another_thread():
	out = run_python(
		"""
		import threading
		from trackflow.engine.parallel import cores
		alone = cores()
		stop = threading.Event()
		thread = threading.Thread(target=stop.wait)
		thread.start()
		print(alone >= 1, cores())
		stop.set()
		thread.join()
		"""
	)
	assert out.split() == ["True", "1"]
	assert cores() >= 1
