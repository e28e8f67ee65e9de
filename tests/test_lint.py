"""Ruff (the rule set and format of frappe/crm: tabs, 110 columns) passes on the whole repository."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
	exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
	assert exe, "ruff is not installed (pip install -e .[test])"
	return subprocess.run([exe, *args], capture_output=True, text=True, cwd=ROOT)


def test_ruff_check():
	result = ruff("check", ".")
	assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
	result = ruff("format", "--check", ".")
	assert result.returncode == 0, result.stdout + result.stderr
