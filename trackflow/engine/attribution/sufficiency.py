"""Data-sufficiency verdicts for fitted models: which channels have too few journeys to trust."""

from __future__ import annotations

from typing import Any


def verdict(
	journeys: dict[str, float],
	conversions: float,
	nulls: float,
	min_journeys: int,
	needs_nulls: bool,
) -> dict[str, Any]:
	""" "ok", "partial" (some channels below `min_journeys`, flagged) or "insufficient" (no conversions,
	no non-converting journeys when the model needs them, or every channel flagged), with a message."""
	flagged = sorted(c for c, n in journeys.items() if n < min_journeys)
	problems = []
	if not journeys:
		problems.append("no journeys")
	if not conversions:
		problems.append("no conversions")
	if needs_nulls and not nulls:
		problems.append("no non-converting journeys (the model needs them)")
	if journeys and len(flagged) == len(journeys):
		problems.append(f"every channel has fewer than {min_journeys} journeys")
	if problems:
		state = "insufficient"
		message = "not enough data: " + "; ".join(problems)
	elif flagged:
		state = "partial"
		message = f"{len(flagged)} channel(s) with fewer than {min_journeys} journeys: {', '.join(flagged)}"
	else:
		state = "ok"
		message = "enough data for every channel"
	return {
		"verdict": state,
		"message": message,
		"min_journeys": min_journeys,
		"journeys": conversions + nulls,
		"conversions": conversions,
		"nulls": nulls,
		"channel_journeys": journeys,
		"flagged_channels": flagged,
	}
