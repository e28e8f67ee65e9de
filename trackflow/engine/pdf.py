"""PDF report finishing with pypdf (cover, metadata, outline, password) and a dependency-free SVG chart."""

import base64
import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from pypdf import PdfReader, PdfWriter
from pypdf.errors import DependencyError

from trackflow.engine.errors import ValidationError

AES_256 = "AES-256"
RC4_128 = "RC4-128"
CREATOR = "TrackFlow"


@functools.cache
def best_encryption() -> str:
	"""Strongest encryption this pypdf can do: AES-256 with `cryptography` (or pycryptodome), else RC4-128.

	Frappe ships `cryptography`, so a site gets AES-256; RC4-128 is weak (it keeps casual readers
	out, not a determined attacker) and is only the fallback of a bare environment.
	"""
	probe = PdfWriter()
	probe.add_blank_page(72, 72)
	try:
		probe.encrypt(user_password="probe", algorithm=AES_256)
	except DependencyError:
		return RC4_128
	return AES_256


def _reader(data: bytes, what: str) -> PdfReader:
	if not isinstance(data, bytes | bytearray) or not data:
		raise ValidationError(f"{what} must be the bytes of a PDF")
	try:
		reader = PdfReader(io.BytesIO(bytes(data)))
		pages = len(reader.pages)  # walks the page tree: a broken PDF fails here, not later in write()
	except (
		Exception
	) as exc:  # pypdf raises several kinds (PdfReadError, ValueError, KeyError...) on bad input
		raise ValidationError(f"{what} is not a readable PDF: {exc}")
	if not pages:
		raise ValidationError(f"{what} has no pages")
	return reader


def _keywords(keywords: str | Sequence[str] | None) -> str:
	if keywords is None or isinstance(keywords, str):
		return keywords or ""
	return ", ".join(k.strip() for k in keywords if k and k.strip())


def finish_pdf(
	body: bytes,
	*,
	cover: bytes | None = None,
	title: str = "",
	author: str = "",
	subject: str = "",
	keywords: str | Sequence[str] | None = None,
	outline: Sequence[tuple[str, int]] = (),
	password: str | None = None,
	algorithm: str | None = None,
) -> bytes:
	"""Cover + body as one PDF with document metadata, one bookmark per section and an optional password.

	`outline` is (section title, page index) with the index counted in `body` (0 = first body page),
	whatever the cover's length; `section_pages` finds those indices from the section titles. The
	body's own bookmarks are dropped (the outline replaces them) and the PDF opens with the bookmark
	panel shown when there is an outline. With a `password` the file is encrypted with `algorithm`,
	by default `best_encryption()`; asking for AES-256 where pypdf lacks its crypto library raises
	ValidationError. The password opens the file; the owner password is the same.
	"""
	body_reader = _reader(body, "the report body")
	cover_reader = _reader(cover, "the cover") if cover is not None else None
	body_pages = len(body_reader.pages)
	for section, page in outline:
		if not isinstance(section, str) or not section.strip():
			raise ValidationError(f"outline titles must be non-empty text, got {section!r}")
		if isinstance(page, bool) or not isinstance(page, int) or not 0 <= page < body_pages:
			raise ValidationError(
				f"outline entry {section!r} points at page {page!r}; the body has pages 0 to {body_pages - 1}"
			)
	if password is not None and not password:
		raise ValidationError("the PDF password cannot be empty (pass None for no password)")
	algorithm = algorithm or best_encryption()
	if algorithm not in (AES_256, RC4_128):
		raise ValidationError(f"unknown PDF encryption {algorithm!r}; use {AES_256!r} or {RC4_128!r}")

	writer = PdfWriter()
	offset = 0
	if cover_reader is not None:
		writer.append(cover_reader, import_outline=False)
		offset = len(cover_reader.pages)
	writer.append(body_reader, import_outline=False)
	metadata = {
		"/Title": title,
		"/Author": author,
		"/Subject": subject,
		"/Keywords": _keywords(keywords),
		"/Creator": CREATOR,
	}
	writer.add_metadata({key: value for key, value in metadata.items() if value})
	for section, page in outline:
		writer.add_outline_item(section.strip(), offset + page)
	if outline:
		writer.page_mode = "/UseOutlines"
	if password is not None:
		try:
			writer.encrypt(user_password=password, owner_password=password, algorithm=algorithm)
		except DependencyError:
			raise ValidationError(
				f"{algorithm} encryption needs the 'cryptography' package in this Python environment"
			)
	out = io.BytesIO()
	writer.write(out)
	return out.getvalue()


def pdf_text(pdf: bytes, password: str | None = None) -> list[str]:
	"""The extracted text of each page (decrypting with `password` when the PDF is encrypted)."""
	reader = PdfReader(io.BytesIO(pdf))
	if reader.is_encrypted and not reader.decrypt(password or ""):
		raise ValidationError("the PDF is encrypted and the password does not open it")
	return [page.extract_text() or "" for page in reader.pages]


def section_pages(pdf: bytes, titles: Sequence[str]) -> list[tuple[str, int]]:
	"""(title, page index) of each section title, searched in order, each from the previous one's page on.

	For building `finish_pdf`'s outline from a rendered body: sections whose title is not found are
	left out. Whitespace is ignored when matching, since text extraction may break lines anywhere.
	"""
	pages = ["".join(text.split()) for text in pdf_text(pdf)]
	found, start = [], 0
	for title in titles:
		needle = "".join(title.split())
		page = next((i for i in range(start, len(pages)) if needle and needle in pages[i]), None)
		if page is not None:
			found.append((title, page))
			start = page
	return found


# --- SVG charts ------------------------------------------------------------------------------------

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777")
FONT = "Helvetica, Arial, sans-serif"
MAX_LABEL_CHARS = 18


@dataclass(frozen=True)
class _Frame:
	"""Plot area in pixels and the value range it maps (private)."""

	left: float
	top: float
	right: float
	bottom: float
	low: float
	high: float

	def y(self, value: float) -> float:
		return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - self.top)


def _number(value: object, what: str) -> float:
	if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
		raise ValidationError(f"{what} must be a number, got {value!r}")
	number = float(value)
	if not math.isfinite(number):
		raise ValidationError(f"{what} must be finite, got {value!r}")
	return number


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
	"""About `count` round ticks (steps of 1, 2, 2.5 or 5 x 10^k) covering [low, high]; 0 is one if inside."""
	if high <= low:
		high = low + 1
	raw = (high - low) / max(1, count - 1)
	magnitude = 10 ** math.floor(math.log10(raw))
	# round the raw step to the nearest nice one (Heckbert's "nice numbers"), so about `count` ticks
	step = magnitude * next(
		(m for limit, m in ((1.5, 1), (2.25, 2), (3.75, 2.5), (7.5, 5)) if raw / magnitude < limit), 10
	)
	first = math.floor(low / step) * step
	ticks, tick = [], first
	while tick < high + step * 1e-9:
		ticks.append(round(tick, 10))
		tick += step
	if ticks[-1] < high:
		ticks.append(round(ticks[-1] + step, 10))
	return ticks


def compact_number(value: float) -> str:
	"""Short axis label: 950, 1.2k, 3.4M, 2B; trailing .0 dropped."""
	for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
		if abs(value) >= limit:
			return f"{value / limit:.1f}".removesuffix(".0") + suffix
	return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _label(text: object) -> str:
	text = str(text)
	return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "\u2026"


def _text(
	x: float, y: float, content: str, *, anchor: str = "middle", size: int = 11, extra: str = ""
) -> str:
	return (
		f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="#374151"'
		f"{extra}>{escape(content)}</text>"
	)


def chart_svg(
	series: Sequence[tuple[str, Sequence[tuple[str, int | float | Decimal]]]],
	kind: str = "bar",
	width: int = 640,
	height: int = 320,
	*,
	title: str = "",
) -> str:
	"""A standalone SVG bar or line chart of named series of (x label, value) points.

	`series` is [(series name, [(x label, value), ...]), ...]; the x axis is every label in order of
	first appearance, a series without a point at a label has no bar there (line: the line skips it).
	Bars are grouped per label; negative values hang below the zero line. A legend is drawn for more
	than one series. All text is XML-escaped and long labels are shortened, so any campaign name is
	safe to pass. Plain SVG 1.1 (no CSS, no scripts): wkhtmltopdf and browsers draw it the same.
	"""
	if kind not in ("bar", "line"):
		raise ValidationError(f"chart kind must be 'bar' or 'line', got {kind!r}")
	for size, what in ((width, "width"), (height, "height")):
		if isinstance(size, bool) or not isinstance(size, int) or size < 120:
			raise ValidationError(f"chart {what} must be a whole number of at least 120 pixels, got {size!r}")
	labels: list[str] = []
	named: list[tuple[str, dict[str, float]]] = []
	for name, points in series:
		values: dict[str, float] = {}
		for label, value in points:
			label = str(label)
			if label not in values and label not in labels:
				labels.append(label)
			values[label] = _number(value, f"value of {name!r} at {label!r}")
		named.append((str(name), values))

	parts = [
		f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
		f'viewBox="0 0 {width} {height}" font-family={quoteattr(FONT)}>',
		f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
	]
	if title:
		parts.append(_text(width / 2, 18, title, size=14, extra=' font-weight="bold"'))
	everything = [v for _, values in named for v in values.values()]
	if not everything:
		parts.append(_text(width / 2, height / 2, "No data", size=13))
		parts.append("</svg>")
		return "\n".join(parts)

	ticks = nice_ticks(min(0.0, *everything), max(0.0, *everything))
	legend_rows = 1 if len(named) > 1 else 0
	frame = _Frame(
		left=56,
		top=(30 if title else 12),
		right=width - 12,
		bottom=height - 40 - 18 * legend_rows,
		low=ticks[0],
		high=ticks[-1],
	)
	for tick in ticks:
		y = frame.y(tick)
		parts.append(
			f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" y2="{y:.1f}" '
			f'stroke="{"#9ca3af" if tick == 0 else "#e5e7eb"}" stroke-width="1"/>'
		)
		parts.append(_text(frame.left - 6, y + 4, compact_number(tick), anchor="end", size=10))

	slot = (frame.right - frame.left) / len(labels)
	label_step = max(1, math.ceil(len(labels) * 7 * 8 / (frame.right - frame.left)))
	for i, label in enumerate(labels):
		if i % label_step == 0:
			parts.append(_text(frame.left + slot * (i + 0.5), frame.bottom + 16, _label(label), size=10))

	zero = frame.y(0.0)
	for index, (name, values) in enumerate(named):
		colour = PALETTE[index % len(PALETTE)]
		if kind == "bar":
			bar = slot * 0.8 / len(named)
			for i, label in enumerate(labels):
				if label not in values:
					continue
				y = frame.y(values[label])
				x = frame.left + slot * i + slot * 0.1 + bar * index
				parts.append(
					f'<rect x="{x:.1f}" y="{min(y, zero):.1f}" width="{bar:.1f}" '
					f'height="{abs(zero - y):.1f}" '
					f'fill="{colour}"><title>{escape(f"{name}: {label}: {compact_number(values[label])}")}'
					"</title></rect>"
				)
		else:
			runs: list[list[tuple[float, float]]] = [[]]  # a missing point breaks the line into runs
			for i, label in enumerate(labels):
				if label in values:
					runs[-1].append((frame.left + slot * (i + 0.5), frame.y(values[label])))
				elif runs[-1]:
					runs.append([])
			for run in runs:
				if len(run) > 1:
					points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
					parts.append(
						f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
					)
				parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in run)
		if legend_rows:
			x = frame.left + index * (frame.right - frame.left) / len(named)
			y = height - 12
			parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
			parts.append(_text(x + 14, y, _label(name), anchor="start", size=10))
	parts.append("</svg>")
	return "\n".join(parts)


def svg_data_uri(svg: str) -> str:
	"""The SVG as a base64 data: URI for an <img src> (wkhtmltopdf renders it more surely than inline SVG)."""
	return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
