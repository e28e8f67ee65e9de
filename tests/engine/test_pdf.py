"""PDF finishing read back with pypdf (pages, metadata, outline, password, text) and the SVG charts."""

import base64
import io
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from pypdf import PdfReader, PdfWriter

from trackflow.engine import pdf as pdf_engine
from trackflow.engine.errors import ValidationError
from trackflow.engine.pdf import (
	AES_256,
	RC4_128,
	best_encryption,
	chart_svg,
	compact_number,
	finish_pdf,
	nice_ticks,
	pdf_text,
	section_pages,
	svg_data_uri,
)

SVG = "{http://www.w3.org/2000/svg}"


def make_pdf(pages: list[list[str]]) -> bytes:
	"""A minimal valid PDF 1.4: one Helvetica text line per string, one page per list (no library needed)."""

	def literal(text: str) -> str:
		return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"

	page_ids = [4 + 2 * i for i in range(len(pages))]
	objects = {
		1: "<< /Type /Catalog /Pages 2 0 R >>",
		2: f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {len(pages)} >>",
		3: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	}
	for page_id, lines in zip(page_ids, pages, strict=True):
		stream = (
			"BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"{literal(line)} Tj T*" for line in lines) + " ET"
		)
		objects[page_id] = (
			"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
			f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>"
		)
		objects[page_id + 1] = f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream"
	out = bytearray(b"%PDF-1.4\n")
	offsets = []
	for number in sorted(objects):
		offsets.append(len(out))
		out += f"{number} 0 obj\n{objects[number]}\nendobj\n".encode("latin-1")
	xref = len(out)
	out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
	out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
	out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
	return bytes(out)


COVER = make_pdf([["Attribution report", "Spring campaign, 2026-03-01 to 2026-03-31"]])
BODY = make_pdf(
	[
		["Summary", "Won revenue attributed: 12,345.67 EUR", "ROI: 143.2%"],
		["Channel x model", "email 4,100.00 linear"],
		["Top paths", "email > paid_search 17 conversions", "Campaign ROI"],
	]
)
SECTIONS = [("Summary", 0), ("Channel x model", 1), ("Top paths", 2), ("Campaign ROI", 2)]


def read(data: bytes, password: str | None = None) -> PdfReader:
	reader = PdfReader(io.BytesIO(data))
	if password is not None:
		assert reader.decrypt(password)
	return reader


def outline_of(reader: PdfReader) -> list[tuple[str, int]]:
	return [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]


def finished(**kwargs) -> bytes:
	args = {
		"cover": COVER,
		"title": "Attribution report: Spring",
		"author": "Ada Manager",
		"subject": "Campaign attribution 2026-03",
		"keywords": ["TrackFlow", "attribution", " ROI "],
		"outline": SECTIONS,
	}
	return finish_pdf(BODY, **{**args, **kwargs})


def test_hand_made_pdf_reads_back():
	assert [len(p) for p in (read(COVER).pages, read(BODY).pages)] == [1, 3]
	assert "12,345.67 EUR" in pdf_text(BODY)[0]


def test_cover_and_body_merge_in_order():
	pages = pdf_text(finished())
	assert len(pages) == 4
	assert "Attribution report" in pages[0] and "Summary" in pages[1] and "Top paths" in pages[3]


def test_metadata_reads_back():
	meta = read(finished()).metadata
	assert meta.title == "Attribution report: Spring"
	assert meta.author == "Ada Manager"
	assert meta.subject == "Campaign attribution 2026-03"
	assert meta["/Keywords"] == "TrackFlow, attribution, ROI"
	assert meta.creator == "TrackFlow"


def test_empty_metadata_is_left_out():
	meta = read(finish_pdf(BODY, title="Only a title")).metadata
	assert meta.title == "Only a title" and "/Author" not in meta and "/Keywords" not in meta


def test_outline_titles_and_targets_shift_past_the_cover():
	reader = read(finished())
	assert outline_of(reader) == [
		("Summary", 1),
		("Channel x model", 2),
		("Top paths", 3),
		("Campaign ROI", 3),
	]
	assert reader.trailer["/Root"]["/PageMode"] == "/UseOutlines"


def test_without_cover_outline_points_at_body_pages():
	reader = read(finish_pdf(BODY, outline=SECTIONS[:2]))
	assert len(reader.pages) == 3
	assert outline_of(reader) == [("Summary", 0), ("Channel x model", 1)]


def test_body_outline_is_replaced_not_duplicated():
	writer = PdfWriter()
	writer.append(PdfReader(io.BytesIO(BODY)))
	writer.add_outline_item("wkhtmltopdf heading", 1)
	stream = io.BytesIO()
	writer.write(stream)
	reader = read(finish_pdf(stream.getvalue(), outline=[("Summary", 0)]))
	assert outline_of(reader) == [("Summary", 0)]


def test_no_outline_leaves_page_mode_alone():
	reader = read(finish_pdf(BODY))
	assert reader.outline == [] and "/PageMode" not in reader.trailer["/Root"]


@pytest.mark.parametrize(
	"kwargs, message",
	[
		({"outline": [("Summary", 3)]}, "pages 0 to 2"),
		({"outline": [("Summary", -1)]}, "pages 0 to 2"),
		({"outline": [("  ", 0)]}, "non-empty"),
		({"password": ""}, "cannot be empty"),
		({"password": "x", "algorithm": "DES"}, "unknown PDF encryption"),
		({"cover": b"not a pdf"}, "the cover is not a readable PDF"),
	],
)
def test_bad_arguments_are_refused(kwargs, message):
	with pytest.raises(ValidationError, match=message):
		finish_pdf(BODY, **kwargs)


def test_bad_body_is_refused():
	with pytest.raises(ValidationError, match="report body is not a readable PDF"):
		finish_pdf(b"%PDF-1.4 truncated")
	with pytest.raises(ValidationError, match="bytes of a PDF"):
		finish_pdf(b"")


def test_key_figures_are_readable_text():
	text = "\n".join(pdf_text(finished()))
	for figure in ("12,345.67 EUR", "143.2%", "email > paid_search 17 conversions"):
		assert figure in text


def encryption_of(data: bytes) -> tuple[int, int]:
	encrypt = PdfReader(io.BytesIO(data)).trailer["/Encrypt"].get_object()
	return encrypt["/V"], encrypt["/R"]


def test_password_is_required_to_read():
	data = finished(password="s3cret", algorithm=RC4_128)
	assert read(data).is_encrypted
	assert encryption_of(data) == (2, 3)  # RC4 with a 128-bit key
	with pytest.raises(ValidationError, match="password does not open it"):
		pdf_text(data)
	with pytest.raises(ValidationError, match="password does not open it"):
		pdf_text(data, password="wrong")
	assert "12,345.67 EUR" in pdf_text(data, password="s3cret")[1]
	reader = read(data, password="s3cret")
	assert reader.metadata.title == "Attribution report: Spring"
	assert outline_of(reader)[0] == ("Summary", 1)


@pytest.mark.skipif(best_encryption() != AES_256, reason="pypdf has no AES library here (needs cryptography)")
def test_aes_256_is_the_default_where_available():
	data = finished(password="s3cret")
	assert encryption_of(data) == (5, 6)  # AES-256, PDF 2.0 revision 6
	assert "143.2%" in pdf_text(data, password="s3cret")[1]


@pytest.mark.skipif(best_encryption() == AES_256, reason="an AES library is installed")
def test_aes_without_its_library_says_what_to_install():
	assert best_encryption() == RC4_128
	with pytest.raises(ValidationError, match="needs the 'cryptography' package"):
		finished(password="s3cret", algorithm=AES_256)
	assert encryption_of(finished(password="s3cret")) == (2, 3)


def test_best_encryption_follows_the_probe(monkeypatch):
	from pypdf.errors import DependencyError

	def no_aes(self, *args, algorithm=None, **kwargs):
		raise DependencyError("cryptography>=3.1 is required for AES algorithm")

	best_encryption.cache_clear()
	monkeypatch.setattr(pdf_engine.PdfWriter, "encrypt", no_aes)
	try:
		assert best_encryption() == RC4_128
	finally:
		best_encryption.cache_clear()


def test_section_pages_finds_titles_in_order():
	assert (
		section_pages(BODY, ["Summary", "Channel x model", "Top paths", "Campaign ROI", "Appendix"])
		== SECTIONS
	)
	# searched from the previous section on: "Summary" only appears before "Top paths"
	assert section_pages(BODY, ["Top paths", "Summary"]) == [("Top paths", 2)]


# --- SVG charts ------------------------------------------------------------------------------------

HOSTILE = 'Q1 <script>alert("x")</script> & "co"'


def parse(svg: str) -> ET.Element:
	root = ET.fromstring(svg)
	assert root.tag == f"{SVG}svg"
	return root


def texts(root: ET.Element) -> list[str]:
	return [t.text for t in root.iter(f"{SVG}text")]


def test_bar_chart_is_valid_svg_with_one_bar_per_point():
	svg = chart_svg(
		[("Revenue", [("email", Decimal("4100.00")), ("ads", 2500), ("qr", 100)])], title="Won revenue"
	)
	root = parse(svg)
	assert root.get("width") == "640" and root.get("height") == "320"
	bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill") != "#ffffff"]
	assert len(bars) == 3
	heights = [float(b.get("height")) for b in bars]
	assert heights[0] > heights[1] > heights[2] > 0
	assert {"Won revenue", "email", "ads", "qr", "0", "5k"} <= set(texts(root))


def test_labels_and_names_are_escaped():
	svg = chart_svg([(HOSTILE, [(HOSTILE, 1)]), ("b", [(HOSTILE, 2)])], title=HOSTILE)
	root = parse(svg)
	assert "<script>" not in svg and not list(root.iter(f"{SVG}script"))
	assert HOSTILE in texts(root)  # the title, round-tripped through escaping
	assert any(t.startswith("Q1 <script>alert(") and t.endswith("\u2026") for t in texts(root))


def test_grouped_bars_legend_and_negative_values():
	root = parse(chart_svg([("ROI", [("a", -0.5), ("b", 1.5)]), ("ROAS", [("b", 2.5)])]))
	bars = [r for r in root.iter(f"{SVG}rect") if r.get("height") != "10" and r.get("fill") != "#ffffff"]
	assert len(bars) == 3
	zero = next(float(l.get("y1")) for l in root.iter(f"{SVG}line") if l.get("stroke") == "#9ca3af")
	negative = bars[0]
	assert float(negative.get("y")) == pytest.approx(zero, abs=0.1)  # hangs below the zero line
	assert {"ROI", "ROAS"} <= set(texts(root))


def test_line_chart_breaks_at_missing_points():
	points = [("Mon", 3), ("Tue", 5), ("Wed", 4)]
	root = parse(chart_svg([("clicks", points), ("leads", [("Mon", 1), ("Wed", 2)])], kind="line"))
	lines = list(root.iter(f"{SVG}polyline"))
	assert len(lines) == 1 and len(lines[0].get("points").split()) == 3
	assert len(list(root.iter(f"{SVG}circle"))) == 5


def test_data_uri_round_trips_non_ascii_labels():
	svg = chart_svg([("Umsatz", [("Kampagne \u00e4\u00f6\u00fc \u20ac", 5)])])
	uri = svg_data_uri(svg)
	assert uri.startswith("data:image/svg+xml;base64,")
	assert base64.b64decode(uri.split(",", 1)[1]).decode("utf-8") == svg
	assert "Kampagne \u00e4\u00f6\u00fc \u20ac" in texts(parse(svg))


def test_empty_chart_says_no_data():
	assert "No data" in texts(parse(chart_svg([], kind="line")))
	assert "No data" in texts(parse(chart_svg([("a", [])])))


@pytest.mark.parametrize(
	"kwargs, message",
	[
		({"kind": "pie"}, "'bar' or 'line'"),
		({"width": 50}, "width must be"),
		({"series": [("a", [("x", float("nan"))])]}, "finite"),
		({"series": [("a", [("x", "12")])]}, "must be a number"),
	],
)
def test_chart_refuses_bad_input(kwargs, message):
	with pytest.raises(ValidationError, match=message):
		chart_svg(**{"series": [("a", [("x", 1)])], **kwargs})


def test_nice_ticks_and_compact_numbers():
	assert nice_ticks(0, 4100) == [0, 1000, 2000, 3000, 4000, 5000]
	assert nice_ticks(-0.5, 2.5) == [-1, 0, 1, 2, 3]
	assert nice_ticks(0, 0) == [0, 0.25, 0.5, 0.75, 1]
	assert [compact_number(v) for v in (0, 950, 1200, 3_400_000, 2e9, 0.25, -1500)] == [
		"0",
		"950",
		"1.2k",
		"3.4M",
		"2B",
		"0.25",
		"-1.5k",
	]
