"""QR codes of short links as PNG and SVG, and the scan marker that tells a scan from a click."""

import io
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import qrcode
import qrcode.constants
import qrcode.exceptions
import qrcode.image.svg

from trackflow.engine.errors import ValidationError
from trackflow.engine.links import merge_query

# A scan opens the short URL with ?q=1 (one route serves clicks and scans; the redirect strips nothing,
# the marker never reaches the destination). Chosen over a /q/<code> path: no second prefix to
# configure, reserve and route.
SCAN_PARAM = "q"
SCAN_VALUE = "1"

ERROR_CORRECTION = {
	"L": qrcode.constants.ERROR_CORRECT_L,  # about 7% of the code can be damaged
	"M": qrcode.constants.ERROR_CORRECT_M,  # 15%
	"Q": qrcode.constants.ERROR_CORRECT_Q,  # 25%
	"H": qrcode.constants.ERROR_CORRECT_H,  # 30%: for print with a logo over it
}
BOX_SIZE_RANGE = (1, 100)
BORDER_RANGE = (0, 20)


@dataclass(frozen=True)
class QrOptions:
	"""How a code is drawn: pixels per module (PNG), quiet zone in modules, error correction level.

	The QR specification asks for a border of 4; less scans on most phones but not all.
	"""

	box_size: int = 10
	border: int = 4
	error_correction: str = "M"

	def __post_init__(self):
		for name, (low, high) in (("box_size", BOX_SIZE_RANGE), ("border", BORDER_RANGE)):
			value = getattr(self, name)
			if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
				label = "QR box size" if name == "box_size" else "QR border"
				raise ValidationError(f"{label} must be a whole number from {low} to {high}, not {value!r}")
		if self.error_correction not in ERROR_CORRECTION:
			raise ValidationError(
				f"QR error correction must be one of {', '.join(ERROR_CORRECTION)}, not {self.error_correction!r}"
			)


def qr_target_url(short_url: str) -> str:
	"""The URL a QR code encodes: the short URL with the scan marker (…/r/Ab3xK9p?q=1)."""
	return merge_query(short_url, {SCAN_PARAM: SCAN_VALUE}, override=True)


def is_scan(query: str | Mapping[str, str] | None) -> bool:
	"""Whether a redirect request came from a QR code: its query string (raw or parsed) carries q=1."""
	if not query:
		return False
	if isinstance(query, str):
		query = dict(parse_qsl(query.lstrip("?"), keep_blank_values=True))
	return query.get(SCAN_PARAM) == SCAN_VALUE


def _qr(data: str, options: QrOptions, **kwargs) -> qrcode.QRCode:
	if not data:
		raise ValidationError("QR code content is empty")
	code = qrcode.QRCode(
		error_correction=ERROR_CORRECTION[options.error_correction],
		box_size=options.box_size,
		border=options.border,
		**kwargs,
	)
	code.add_data(data)
	try:
		code.make(fit=True)
	except (qrcode.exceptions.DataOverflowError, ValueError):  # qrcode 8 raises "Invalid version (41)"
		raise ValidationError(f"Too much data for a QR code: {len(data)} characters")
	return code


def module_matrix(data: str, options: QrOptions | None = None) -> list[list[bool]]:
	"""The code's modules including the quiet zone, True for dark: rows of equal length."""
	return _qr(data, options or QrOptions()).get_matrix()


def render_png(data: str, options: QrOptions | None = None) -> bytes:
	"""A 1-bit greyscale PNG of the QR code for `data` (no Pillow needed: the PNG is written here).

	Side length in pixels: (modules + 2 * border) * box_size.
	"""
	options = options or QrOptions()
	matrix = module_matrix(data, options)
	box = options.box_size
	width = len(matrix) * box
	raw = bytearray()
	for row in matrix:
		# 1 bit per pixel, 1 = white; each module is `box` pixels wide and `box` rows tall.
		bits = "".join(("0" if dark else "1") * box for dark in row)
		bits += "1" * (-len(bits) % 8)
		line = b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")
		raw += line * box
	return b"".join(
		(
			b"\x89PNG\r\n\x1a\n",
			_chunk(b"IHDR", struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)),
			_chunk(b"IDAT", zlib.compress(bytes(raw), 9)),
			_chunk(b"IEND", b""),
		)
	)


def _chunk(kind: bytes, body: bytes) -> bytes:
	return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def render_svg(data: str, options: QrOptions | None = None) -> bytes:
	"""An SVG of the QR code for `data`: one path, one square per dark module.

	Sized in millimetres by the qrcode library's convention: box_size / 10 mm per module (the default
	10 gives 1 mm modules, a 3-4 cm code for a short link); it scales without loss for print.
	"""
	options = options or QrOptions()
	image = _qr(data, options, image_factory=qrcode.image.svg.SvgPathImage).make_image()
	out = io.BytesIO()
	image.save(out)
	return out.getvalue()
