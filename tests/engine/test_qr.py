"""QR codes: PNG and SVG of the scan URL, options validated, decoded back with zbarimg when installed."""

import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

import pytest

from trackflow.engine.errors import ValidationError
from trackflow.engine.qr import QrOptions, is_scan, module_matrix, qr_target_url, render_png, render_svg

URL = "https://crm.example.com/r/Ab3xK9p"


def png_pixels(data: bytes) -> tuple[int, int, list[list[int]]]:
	"""Decode our 1-bit greyscale PNG back to pixels (0 black, 1 white)."""
	assert data[:8] == b"\x89PNG\r\n\x1a\n"
	pos, chunks = 8, {}
	while pos < len(data):
		(length,) = struct.unpack(">I", data[pos : pos + 4])
		kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
		(crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
		assert crc == zlib.crc32(kind + body)
		chunks[kind] = chunks.get(kind, b"") + body
		pos += 12 + length
	width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
	assert (depth, colour) == (1, 0)
	raw = zlib.decompress(chunks[b"IDAT"])
	stride = 1 + (width + 7) // 8
	pixels = []
	for y in range(height):
		line = raw[y * stride : (y + 1) * stride]
		assert line[0] == 0
		bits = "".join(f"{b:08b}" for b in line[1:])[:width]
		pixels.append([int(b) for b in bits])
	return width, height, pixels


def test_scan_marker():
	assert qr_target_url(URL) == URL + "?q=1"
	assert qr_target_url(URL + "?q=0") == URL + "?q=1"
	assert is_scan("q=1") and is_scan("?x=2&q=1") and is_scan({"q": "1"})
	assert not is_scan("") and not is_scan(None) and not is_scan("q=0") and not is_scan("qq=1")


def test_png_pixels_match_the_module_matrix():
	options = QrOptions(box_size=3, border=2, error_correction="Q")
	matrix = module_matrix(qr_target_url(URL), options)
	width, height, pixels = png_pixels(render_png(qr_target_url(URL), options))
	assert width == height == len(matrix) * 3
	assert pixels[0] == [1] * width  # quiet zone is white
	for y, row in enumerate(matrix):
		for x, dark in enumerate(row):
			assert pixels[y * 3 + 1][x * 3 + 1] == (0 if dark else 1)


def test_svg_parses_and_draws_every_dark_module_once():
	options = QrOptions(border=4, error_correction="H")
	svg = render_svg(qr_target_url(URL), options)
	root = ET.fromstring(svg)
	matrix = module_matrix(qr_target_url(URL), options)
	assert root.get("viewBox") == f"0 0 {len(matrix)} {len(matrix)}"
	path = root.find("{http://www.w3.org/2000/svg}path").get("d")
	assert path.count("M") == sum(sum(row) for row in matrix)


def test_error_correction_changes_the_code():
	low, high = (module_matrix(URL, QrOptions(error_correction=level)) for level in "LH")
	assert len(high) > len(low)


@pytest.mark.parametrize(
	"kwargs",
	[
		{"box_size": 0},
		{"box_size": 101},
		{"border": -1},
		{"border": 21},
		{"error_correction": "X"},
		{"box_size": 2.5},
	],
)
def test_options_are_validated(kwargs):
	with pytest.raises(ValidationError):
		QrOptions(**kwargs)


def test_too_much_data_is_a_clear_error():
	with pytest.raises(ValidationError, match="Too much data"):
		render_png("https://x.example/" + "a" * 5000)


# CI installs zbar-tools (.ci/run), so there a missing zbarimg fails the test instead of skipping it.
@pytest.mark.skipif(
	not shutil.which("zbarimg") and not os.environ.get("CI"),
	reason="zbarimg not installed (Debian zbar-tools)",
)
@pytest.mark.parametrize("render, suffix", [(render_png, "png"), (render_svg, "svg")])
def test_a_scanner_reads_back_the_url(tmp_path, render, suffix):
	path = tmp_path / f"code.{suffix}"
	path.write_bytes(render(qr_target_url(URL)))
	result = subprocess.run(["zbarimg", "-q", "--raw", str(path)], capture_output=True, text=True, timeout=30)
	assert result.returncode == 0, result.stderr
	assert result.stdout.strip() == URL + "?q=1"
