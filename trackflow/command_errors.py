"""One-line errors for the bench commands: input a user can fix (a refused validation, a missing file or
directory, a file that is not CSV text) ends in `Error: message` and exit code 2, never in a traceback.

Imports no frappe, so it is tested without a site; commands.py adds Frappe's error types."""

from __future__ import annotations

import csv

import click


class CommandError(click.ClickException):
	"""A command refused its input or could not reach a file: `Error: message` on stderr, exit code 2."""

	exit_code = 2


class OneLineErrorGroup(click.Group):
	"""A command group whose commands raise `input_errors` as CommandError: one line, exit code 2.
	click's own errors (usage, Abort) and `sys.exit` pass through unchanged."""

	input_errors: tuple[type[BaseException], ...] = (OSError, ValueError, csv.Error)

	def invoke(self, ctx: click.Context):
		try:
			return super().invoke(ctx)
		except click.ClickException:
			raise
		except self.input_errors as error:
			raise CommandError(self.describe(error)) from None

	def describe(self, error: BaseException) -> str:
		"""The error as one line: `file: reason` for file system errors, else its message."""
		if isinstance(error, OSError) and error.filename is not None:
			return f"{error.filename}: {error.strerror or error}"
		return " ".join(str(error).split()) or type(error).__name__
