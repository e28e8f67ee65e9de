"""Builds trackflow.min.js, the embed script as served, from its readable source trackflow.js.

	python trackflow/public/js/build.py           writes trackflow.min.js beside this file
	python trackflow/public/js/build.py --check   exit 1 when the committed file is not a fresh build

The minifier is tdewolff/minify through its PyPI wheel (``minify-go``, pinned in pyproject's test extra):
it renames local names and folds expressions (about 55 bytes of gzip more than terser -c -m, a third
less than a whitespace-only minifier), runs without Node, and gives the same bytes for the same source,
so a test can rebuild the file and compare it byte for byte (tests/browser/test_embed_script.py).
The output keeps to ES2015, like the source, and keeps the source's ``/*! ... */`` licence line.
"""

import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "trackflow.js"
SERVED = HERE / "trackflow.min.js"
MINIFIER = ("minify-go", "2.24.24")  # another version may give other bytes: bump it with a rebuild


def build(source: str) -> bytes:
	"""The served file for `source`: minified, ES2015, with a final newline."""
	installed = metadata.version(MINIFIER[0])
	if installed != MINIFIER[1]:
		raise RuntimeError(f"{MINIFIER[0]} {installed} is installed; the build pins {MINIFIER[1]}")
	import minify

	minify.config({"js-version": 2015})
	return minify.string("application/javascript", source).encode() + b"\n"


def main(argv: list[str] | None = None) -> int:
	args = sys.argv[1:] if argv is None else argv
	fresh = build(SOURCE.read_text())
	if "--check" in args:
		if SERVED.read_bytes() != fresh:
			print(f"{SERVED.name} is not a build of {SOURCE.name}: run python {Path(__file__).as_posix()}")
			return 1
		return 0
	SERVED.write_bytes(fresh)
	print(f"{SERVED.name}: {len(fresh)} bytes")
	return 0


if __name__ == "__main__":
	sys.exit(main())
