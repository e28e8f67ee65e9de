"""TrackFlow installs beside every Frappe in frappe_pins.json: each of its requirements admits what Frappe pins.

A bench installs Frappe first, then each app into the same environment, so a TrackFlow range that excludes
a version Frappe pins makes `bench get-app` fail (Frappe 16's redis~=6.2 against an old `redis<5`, its newest
pypdf==6.13.3 against `pypdf<6`). No network: the pin sets are data copied from Frappe's pyproject.toml.
"""

import json
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
	import tomllib
else:  # Python 3.10
	import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PINS = json.loads(Path(__file__).with_name("frappe_pins.json").read_text())


def trackflow_requirements(root: Path = ROOT) -> list[tuple[str, Requirement]]:
	"""(where, requirement) for requirements.txt, [project] dependencies and the optional extras."""
	found = []
	for line in (root / "requirements.txt").read_text().splitlines():
		line = line.split("#", 1)[0].strip()
		if line:
			found.append(("requirements.txt", Requirement(line)))
	project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
	for line in project.get("dependencies", []):
		found.append(("pyproject.toml dependencies", Requirement(line)))
	for extra, lines in project.get("optional-dependencies", {}).items():
		for line in lines:
			found.append((f"pyproject.toml [{extra}]", Requirement(line)))
	return found


def _version(release) -> Version:
	return Version(".".join(map(str, release)))


def candidates(specifiers: SpecifierSet) -> list[Version]:
	"""Versions a resolver may pick inside `specifiers`: each bound it names, the next patch, minor and major
	releases above a lower bound, and the far end (X.Y.999) of a ~= range; only those the whole set admits."""
	found: set[Version] = set()
	for spec in specifiers:
		if spec.version.endswith(".*"):  # ==3.1.* admits 3.1.0 ... 3.1.999
			release = tuple(int(p) for p in spec.version[:-2].split("."))
			found |= {_version((*release, 0)), _version((*release, 999))}
			continue
		version = Version(spec.version)
		release = version.release
		if spec.operator in ("==", "===", "<=", ">=", "~="):
			found.add(version)
		if spec.operator == "~=":
			found.add(_version((*release[:-1], release[-1] + 1)))
			found.add(_version((*release[:-1], 999)))
		elif spec.operator in (">=", ">"):
			found.add(_version((*release[:-1], release[-1] + 1)))
			if len(release) > 1:
				found.add(_version((release[0], release[1] + 1)))
			found |= {_version((release[0] + 1,)), _version((release[0] + 10,))}
	return sorted(v for v in found if specifiers.contains(v, prereleases=True))


def conflicts(requirements: list[tuple[str, Requirement]], frappe: dict) -> list[str]:
	"""Requirements that refuse a version the Frappe pin set `frappe` may install."""
	pins = {}
	for line in frappe["dependencies"]:
		pin = Requirement(line)
		pins[canonicalize_name(pin.name)] = pin
	problems = []
	for where, requirement in requirements:
		pin = pins.get(canonicalize_name(requirement.name))
		if pin is None:
			continue
		if pin.url:  # a git pin: its version is not stated, so only an unversioned requirement is safe
			if requirement.specifier:
				problems.append(
					f"{where}: {requirement} names a version of a package {frappe['name']} pins to {pin.url}"
				)
			continue
		admitted = candidates(pin.specifier)
		if not admitted:
			problems.append(f"{frappe['name']}: no version found inside its own pin {pin}")
			continue
		refused = [str(v) for v in admitted if not requirement.specifier.contains(v, prereleases=True)]
		if refused:
			problems.append(
				f"{where}: {requirement} refuses {', '.join(refused)}, admitted by {frappe['name']}'s {pin}"
			)
	return problems


def python_conflict(requires_python: str, frappe: dict) -> str | None:
	ours, theirs = SpecifierSet(requires_python), SpecifierSet(frappe["requires_python"])
	shared = [
		f"3.{minor}"
		for minor in range(6, 30)
		if ours.contains(f"3.{minor}") and theirs.contains(f"3.{minor}")
	]
	return None if shared else f"requires-python {requires_python} shares no Python with {frappe['name']}"


@pytest.mark.parametrize("frappe", PINS["frappe"], ids=lambda f: f["name"])
def test_every_requirement_admits_the_frappe_pins(frappe):
	assert frappe["source"] and frappe["dependencies"]
	problems = conflicts(trackflow_requirements(), frappe)
	assert not problems, "\n".join(problems)


@pytest.mark.parametrize("frappe", PINS["frappe"], ids=lambda f: f["name"])
def test_python_range_overlaps_frappe(frappe):
	project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
	assert python_conflict(project["requires-python"], frappe) is None


def test_pin_sets_cover_the_frappe_versions_trackflow_claims():
	names = [f["name"] for f in PINS["frappe"]]
	assert any(n.startswith("Frappe 15") for n in names) and any("16" in n for n in names)
	assert any("develop" in n for n in names)
	for frappe in PINS["frappe"]:
		pins = {canonicalize_name(Requirement(line).name) for line in frappe["dependencies"]}
		assert {"redis", "rq", "pypdf", "requests"} <= pins, frappe["name"]


# --- the check itself catches what it is for ---------------------------------------------------------


def test_candidates_span_each_kind_of_pin():
	assert candidates(SpecifierSet("==1.15.1")) == [Version("1.15.1")]
	assert {Version("4.5.5"), Version("4.5.6"), Version("4.5.999")} <= set(
		candidates(SpecifierSet("~=4.5.5"))
	)
	assert Version("4.6") not in candidates(SpecifierSet("~=4.5.5"))
	assert {Version("2.9"), Version("2.999")} <= set(candidates(SpecifierSet("~=2.9")))
	assert Version("4.15.0") in candidates(SpecifierSet(">=4.15.0,<5"))
	assert all(v < Version("5") for v in candidates(SpecifierSet(">=4.15.0,<5")))
	assert Version("5") in candidates(SpecifierSet(">=4.1"))  # open above: a later major is tried


def test_old_upper_bounds_conflict_with_newest_frappe():
	newest = next(f for f in PINS["frappe"] if "develop" in f["name"])
	old = [("requirements.txt", Requirement(r)) for r in ("redis>=4.5,<7", "pypdf>=3.17,<6", "rq>=1.15,<3")]
	problems = conflicts(old, newest)
	assert len(problems) == 2, problems
	assert any("redis" in p and "7.1.0" in p for p in problems)
	assert any("pypdf" in p and "6.13.3" in p for p in problems)


def test_a_range_that_cuts_through_a_compatible_pin_conflicts():
	frappe = {"name": "F", "dependencies": ["redis~=4.5.5"]}
	assert conflicts([("r", Requirement("redis<4.5.7"))], frappe)  # 4.5.999 is allowed by Frappe
	assert not conflicts([("r", Requirement("redis>=4.5,<5"))], frappe)
	assert not conflicts([("r", Requirement("unrelated<1"))], frappe)


def test_a_version_on_a_git_pinned_package_conflicts():
	frappe = {"name": "F", "dependencies": ["gunicorn @ git+https://github.com/frappe/gunicorn@abc"]}
	assert conflicts([("r", Requirement("gunicorn>=22"))], frappe)
	assert not conflicts([("r", Requirement("gunicorn"))], frappe)


def test_python_ranges():
	assert python_conflict(">=3.10", {"name": "F", "requires_python": ">=3.14,<3.15"}) is None
	assert python_conflict(">=3.10,<3.13", {"name": "F", "requires_python": ">=3.14,<3.15"})
