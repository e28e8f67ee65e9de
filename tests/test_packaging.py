"""The package metadata tells the truth: one version, one dependency list, the Frappe range, AGPL."""

import ast
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import trackflow

if sys.version_info >= (3, 11):
	import tomllib
else:  # Python 3.10
	import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_lines() -> list[str]:
	lines = (ROOT / "requirements.txt").read_text().splitlines()
	return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def normalise(requirement: str) -> tuple[str, SpecifierSet]:
	parsed = Requirement(requirement)
	return parsed.name.lower(), parsed.specifier


def test_installed_metadata_matches_the_sources():
	dist = metadata.distribution("trackflow")
	assert dist.version == trackflow.__version__
	installed = {normalise(r) for r in dist.requires or [] if "extra ==" not in r}
	assert installed == {normalise(r) for r in requirement_lines()}


def test_runtime_dependencies_are_declared():
	requirements = dict(normalise(line) for line in requirement_lines())
	assert {"qrcode", "pypdf", "redis", "rq"} <= requirements.keys()
	# That they admit every Frappe's pins is tests/integrity/test_frappe_pins.py (pin sets as data).


def test_version_is_dynamic_and_frappe_range_declared():
	assert PYPROJECT["project"]["dynamic"] == ["version", "dependencies"]
	assert PYPROJECT["project"]["requires-python"] == ">=3.10"
	assert PYPROJECT["tool"]["bench"]["frappe-dependencies"]["frappe"] == ">=15.0.0,<17.0.0"
	assert "test" in PYPROJECT["project"]["optional-dependencies"]


def test_console_script_points_at_a_real_function():
	for name, target in PYPROJECT["project"].get("scripts", {}).items():
		module, _, func = target.partition(":")
		path = ROOT / (module.replace(".", "/") + ".py")
		tree = ast.parse(path.read_text())
		assert func in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, name


def test_license_is_agpl():
	assert (ROOT / "license.txt").read_text().startswith("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3")
	hooks = ast.parse((ROOT / "trackflow" / "hooks.py").read_text())
	values = {
		n.targets[0].id: n.value.value
		for n in hooks.body
		if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
	}
	assert values["app_license"] == "agpl-3.0"
