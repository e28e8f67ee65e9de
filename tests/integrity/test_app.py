"""The integrity checks, run on this repository: each must report nothing."""

from pathlib import Path

import pytest

from tests.integrity import checks

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("check", checks.ALL_CHECKS, ids=lambda c: c.__name__)
def test_app_passes(check):
	problems = check(ROOT)
	assert not problems, "\n".join(problems)


def test_the_checks_read_real_files():
	app = checks.load_app(ROOT)
	assert "TrackFlow Settings" in app.doctypes
	assert "trackflow.install.after_install" in app.functions
	assert app.modules_txt == ["TrackFlow"]
