"""Pieces of one job run side by side in forked child processes: how the CLI reads a large file on
every core it may use. Pure standard library; where fork is missing or unsafe, everything runs here."""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
FAILED = b"\0failed"


DEFAULT_MAX = 8  # beyond this many runs of a 30 MB file, forking and joining cost more than they save


def cores() -> int:
	"""How many processes a job may fork into by default: the CPUs this process may run on (at most
	DEFAULT_MAX), or 1 where fork is missing or unsafe (another thread is running: a lock it holds would
	stay locked in the child)."""
	if not hasattr(os, "fork") or threading.active_count() > 1:
		return 1
	try:
		return min(len(os.sched_getaffinity(0)), DEFAULT_MAX)
	except AttributeError:  # macOS, where fork and threads also mix badly: stay in one process
		return 1


def fork_map(function: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
	"""[function(item) for item in items]: the first item here, each other one in a forked child
	whose result comes back pickled through a pipe (so it should be small or pickle compactly). A
	child that fails for any reason gives None in its place; this process's own failure raises."""
	children = []
	for item in items[1:]:
		read_end, write_end = os.pipe()
		pid = os.fork()
		if pid == 0:  # the child: compute, send, leave without running the parent's exit handlers
			os.close(read_end)
			try:
				data = pickle.dumps(function(item), protocol=pickle.HIGHEST_PROTOCOL)
			except BaseException:
				data = FAILED
			try:
				with os.fdopen(write_end, "wb") as pipe:
					pipe.write(data)
			finally:
				os._exit(0)
		os.close(write_end)
		children.append((pid, read_end))
	results = []
	try:
		results.append(function(items[0]))
	finally:
		for pid, read_end in children:
			with os.fdopen(read_end, "rb") as pipe:
				data = pipe.read()
			os.waitpid(pid, 0)
			results.append(None if data in (b"", FAILED) else pickle.loads(data))
	return results
