"""trackflow/engine never imports frappe: by reading its source, and by importing it where frappe cannot load."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "trackflow" / "engine"


def frappe_imports(package: Path) -> list[str]:
	found = []
	for path in sorted(package.rglob("*.py")):
		for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
			names = []
			if isinstance(node, ast.Import):
				names = [a.name for a in node.names]
			elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
				names = [node.module]
			if any(n == "frappe" or n.startswith("frappe.") for n in names):
				found.append(f"{path.relative_to(package.parent)}:{node.lineno}")
	return found


def test_engine_source_never_imports_frappe():
	assert frappe_imports(ENGINE) == []


def test_scanner_finds_frappe_imports(tmp_path):
	(tmp_path / "pkg").mkdir()
	(tmp_path / "pkg" / "ok.py").write_text("import json\n")
	(tmp_path / "pkg" / "bad.py").write_text("def f():\n\tfrom frappe.utils import cint\n")
	assert frappe_imports(tmp_path / "pkg") == ["pkg/bad.py:2"]


BLOCKING_IMPORT = """
import importlib, pkgutil, sys

class BlockFrappe:
	def find_spec(self, name, path=None, target=None):
		if name == "frappe" or name.startswith("frappe."):
			raise ImportError(f"engine imported {name}")

sys.meta_path.insert(0, BlockFrappe())
import trackflow.engine as engine
modules = [m.name for m in pkgutil.walk_packages(engine.__path__, "trackflow.engine.") if m.name.split(".")[-1] != "__main__"]
for name in modules:
	importlib.import_module(name)
print(len(modules))
"""


def test_every_engine_module_imports_without_frappe():
	result = subprocess.run([sys.executable, "-c", BLOCKING_IMPORT], capture_output=True, text=True, cwd=ROOT)
	assert result.returncode == 0, result.stderr
	assert int(result.stdout.strip()) >= 2
