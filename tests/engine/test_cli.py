"""The attribution CLI: demo, attribute on touchpoints and on aggregated paths, formats, errors."""

import json
from decimal import Decimal

import pytest

from trackflow.engine import ENGINE_VERSION
from trackflow.engine.cli import main

TP = """journey_id,timestamp,channel,touchpoint_id,milestone
j1,2026-01-01T10:00:00Z,email,t1,lead
j1,2026-01-02T10:00:00+00:00,direct,t2,
j1,2026-01-03T10:00:00Z,paid_search,t3,opportunity|won
j2,2026-01-01T10:00:00Z,paid_search,t4,
j3,2026-01-01T10:00:00Z,email,t5,
"""
CV = """journey_id,timestamp,value,conversion_id,currency
j1,2026-01-04T10:00:00Z,100.00,c1,USD
j2,2026-01-02T10:00:00Z,50.00,c2,USD
"""


@pytest.fixture
def files(tmp_path):
	(tmp_path / "tp.csv").write_text(TP)
	(tmp_path / "cv.csv").write_text(CV)
	return tmp_path


def run(capsys, *argv):
	code = main(list(argv))
	out, err = capsys.readouterr()
	return code, out, err


def test_demo_prints_every_model(capsys):
	code, out, _ = run(capsys, "demo")
	assert code == 0
	for name in ("first_touch", "linear", "w_shaped", "full_path", "markov", "shapley"):
		assert name in out


def test_attribute_json_shape_and_exact_values(files, capsys):
	code, out, _ = run(
		capsys,
		"attribute",
		"--touchpoints",
		str(files / "tp.csv"),
		"--conversions",
		str(files / "cv.csv"),
		"--model",
		"linear",
		"--model",
		"position_based:first=0.3,last=0.3",
		"--format",
		"json",
	)
	assert code == 0
	data = json.loads(out)
	assert data["engine_version"] == ENGINE_VERSION and data["conversions"] == 2 and data["value"] == "150.00"
	linear = data["models"]["linear"]
	# c1: 33.34 email, 33.33 direct, 33.33 paid_search; c2: 50 paid_search
	assert linear == {
		"direct": {"conversions": pytest.approx(1 / 3), "value": "33.33"},
		"email": {"conversions": pytest.approx(1 / 3), "value": "33.34"},
		"paid_search": {"conversions": pytest.approx(4 / 3), "value": "83.33"},
	}
	assert data["models"]["position_based:first=0.3,last=0.3"]["direct"]["value"] == "40.00"
	assert "fits" not in data


def test_attribute_data_driven_carries_fit_and_detail(files, capsys):
	code, out, _ = run(
		capsys,
		"attribute",
		"--touchpoints",
		str(files / "tp.csv"),
		"--conversions",
		str(files / "cv.csv"),
		"--model",
		"shapley:min_journeys=0",
		"--format",
		"json",
		"--detail",
	)
	assert code == 0
	data = json.loads(out)
	fit = data["fits"]["shapley:min_journeys=0"]
	assert set(fit) == {"channel_weights", "shapley_values", "global_share", "sufficiency"}
	credits = data["detail"]["shapley:min_journeys=0"][0]["credits"]
	assert sum(Decimal(c["value"]) for c in credits) == Decimal("100.00")


def test_paths_input_matches_channelattribution_format(tmp_path, capsys):
	(tmp_path / "p.csv").write_text(
		"path;total_conversions;total_conversion_value;total_null\n"
		"email > direct > paid_search;2;30.00;1\npaid_search;1;10.01;3\n"
	)
	code, out, _ = run(
		capsys, "attribute", "--paths", str(tmp_path / "p.csv"), "--model", "linear", "--format", "json"
	)
	assert code == 0
	linear = json.loads(out)["models"]["linear"]
	assert linear["paid_search"] == {"conversions": pytest.approx(5 / 3), "value": "20.01"}
	assert linear["email"]["value"] == "10.00" and linear["direct"]["value"] == "10.00"
	code, out, _ = run(
		capsys,
		"attribute",
		"--paths",
		str(tmp_path / "p.csv"),
		"--model",
		"markov:min_journeys=0",
		"--format",
		"csv",
	)
	assert code == 0 and out.startswith("model,channel,conversions,value\n")


@pytest.mark.parametrize(
	"tp, cv, model, message",
	[
		("journey_id,channel\nj1,email\n", CV, "linear", "tp.csv: missing column 'timestamp'"),
		(
			TP.replace("2026-01-02T10:00:00+00:00", "yesterday"),
			CV,
			"linear",
			"tp.csv: row 3: field timestamp",
		),
		(TP.replace("2026-01-02T10:00:00+00:00", "2026-01-02T10:00:00"), CV, "linear", "no timezone"),
		(TP, CV.replace("50.00", "-5"), "linear", "cv.csv: row 3: field value"),
		(TP, CV, "bogus", "unknown model"),
		(TP, CV, "time_decay:half_life_days=-1", "half_life_days"),
		(TP.replace("opportunity|won", "opportunity|lost"), CV, "linear", "row 4: field milestone"),
	],
)
def test_errors_exit_non_zero_with_one_line(tmp_path, capsys, tp, cv, model, message):
	(tmp_path / "tp.csv").write_text(tp)
	(tmp_path / "cv.csv").write_text(cv)
	code, out, err = run(
		capsys,
		"attribute",
		"--touchpoints",
		str(tmp_path / "tp.csv"),
		"--conversions",
		str(tmp_path / "cv.csv"),
		"--model",
		model,
	)
	assert code != 0 and message in err and err.count("\n") == 1 and out == ""
