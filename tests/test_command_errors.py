"""The bench commands' error wrapper, without a site: input errors are one line and exit code 2."""

import ast
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from trackflow.command_errors import OneLineErrorGroup
from trackflow.engine.errors import ValidationError

COMMANDS = Path(__file__).resolve().parents[1] / "trackflow" / "commands.py"


class SiteError(Exception):
	"""Stands in for frappe.ValidationError, which commands.py adds to the group's input errors."""


class SiteGroup(OneLineErrorGroup):
	input_errors = (*OneLineErrorGroup.input_errors, SiteError)

	def describe(self, error):
		return super().describe(error).replace("<b>", "").replace("</b>", "")


@click.group("trackflow", cls=SiteGroup)
def group():
	pass


@group.command("export-credits")
@click.option("--output")
def export_credits(output):
	with open(output, "w") as handle:
		handle.write("x")


@group.command("import-touchpoints")
@click.argument("path")
def import_touchpoints(path):
	Path(path).read_text(encoding="utf-8")


@group.command("refused")
def refused():
	raise SiteError("No Conversion Destination named <b>Meta</b>\nsecond line")


@group.command("engine")
def engine():
	raise ValidationError("tp.csv: row 3: field timestamp: 'x' is not an ISO 8601 timestamp")


@group.command("usage")
def usage():
	raise click.UsageError("give a visitor id or --email")


@group.command("bug")
def bug():
	raise KeyError("a bug stays a bug")


# As bench does: the app's group under Frappe's own.
bench = click.Group("frappe", commands={"trackflow": group})


def invoke(*argv):
	return CliRunner().invoke(bench, ["trackflow", *argv])


@pytest.mark.parametrize(
	"argv, message",
	[
		(
			["export-credits", "--output", "/missing/dir/x.csv"],
			"Error: /missing/dir/x.csv: No such file or directory\n",
		),
		(["import-touchpoints", "/"], "Error: /: Is a directory\n"),
		(["refused"], "Error: No Conversion Destination named Meta second line\n"),
		(["engine"], "Error: tp.csv: row 3: field timestamp: 'x' is not an ISO 8601 timestamp\n"),
	],
)
def test_input_errors_are_one_line_with_exit_code_2(argv, message):
	result = invoke(*argv)
	assert result.exit_code == 2 and result.output == message


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
	(tmp_path / "t.csv").write_bytes("café".encode("latin-1"))
	result = invoke("import-touchpoints", str(tmp_path / "t.csv"))
	assert result.exit_code == 2 and result.output.count("\n") == 1
	assert result.output.startswith("Error: 'utf-8' codec can't decode byte 0xe9")


def test_click_errors_and_bugs_pass_through():
	result = invoke("usage")
	assert result.exit_code == 2 and "Usage:" in result.output and "give a visitor id" in result.output
	result = invoke("bug")
	assert isinstance(result.exception, KeyError)


def test_the_trackflow_bench_group_uses_the_wrapper():
	tree = ast.parse(COMMANDS.read_text())
	groups = [
		node
		for node in ast.walk(tree)
		if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "group"
	]
	assert [ast.unparse(g) for g in groups] == ["click.group('trackflow', cls=TrackFlowCommands)"]
	classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
	assert [ast.unparse(b) for b in classes["TrackFlowCommands"].bases] == ["OneLineErrorGroup"]
