"""Rule-based models: one function per model, (touches, conversion, params) -> raw weights per touch.

Touches arrive ordered by (timestamp, id), already cut to the lookback window and non-empty. Weights
are >= 0 and are normalised by the caller. Shared rule of the milestone and custom position models:
a share whose touch does not exist (a missing milestone, no middle touches) goes to the last touch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from trackflow.engine.attribution.registry import CHANNEL_PREFIX
from trackflow.engine.attribution.types import Conversion, Touchpoint

Weights = list[float]
DIRECT = "direct"
SECONDS_PER_DAY = 86400.0


def first_touch(touches: Sequence[Touchpoint], conversion: Conversion, params: dict[str, Any]) -> Weights:
	return [1.0] + [0.0] * (len(touches) - 1)


def last_touch(touches: Sequence[Touchpoint], conversion: Conversion, params: dict[str, Any]) -> Weights:
	return [0.0] * (len(touches) - 1) + [1.0]


def last_non_direct(touches: Sequence[Touchpoint], conversion: Conversion, params: dict[str, Any]) -> Weights:
	"""The last touch whose channel is not "direct"; a path of direct touches only: the last touch."""
	weights = [0.0] * len(touches)
	for i in range(len(touches) - 1, -1, -1):
		if touches[i].channel.lower() != DIRECT:
			weights[i] = 1.0
			return weights
	weights[-1] = 1.0
	return weights


def linear(touches: Sequence[Touchpoint], conversion: Conversion, params: dict[str, Any]) -> Weights:
	return [1.0] * len(touches)


def time_decay(touches: Sequence[Touchpoint], conversion: Conversion, params: dict[str, Any]) -> Weights:
	"""2^(-Δt/H) with Δt in days before the conversion; computed relative to the latest touch (whose
	weight is 1) so that long windows with short half-lives never underflow to all zeros."""
	half_life = params["half_life_days"]
	latest = touches[-1].timestamp
	return [2.0 ** (-((latest - t.timestamp).total_seconds() / SECONDS_PER_DAY) / half_life) for t in touches]


def position_based(touches: Sequence[Touchpoint], conversion: Conversion, params: dict[str, Any]) -> Weights:
	"""n=1: 100 %; n=2: 50/50 (whatever `first`/`last` are); n>=3: `first`, `last`, and the rest split
	evenly over the middle touches. Also serves j_shaped and inverse_j (other defaults)."""
	n = len(touches)
	if n == 1:
		return [1.0]
	if n == 2:
		return [0.5, 0.5]
	middle = (1.0 - params["first"] - params["last"]) / (n - 2)
	return [params["first"]] + [max(middle, 0.0)] * (n - 2) + [params["last"]]


def _last_flagged(touches: Sequence[Touchpoint], milestone: str) -> int | None:
	for i in range(len(touches) - 1, -1, -1):
		if milestone in touches[i].milestones:
			return i
	return None


def _milestone_weights(
	touches: Sequence[Touchpoint], params: dict[str, Any], roles: Sequence[str]
) -> Weights:
	"""Shares by role: "first" is the first touch; a milestone role is the last touch flagged with it.
	A touch holding several roles gets every share; a missing milestone's share goes to the last touch.
	The rest (1 - the role shares) is split evenly over the touches holding no role, or goes to the last
	touch when every touch holds a role."""
	n = len(touches)
	weights = [0.0] * n
	holders: set[int] = set()
	for role in roles:
		index = 0 if role == "first" else _last_flagged(touches, role)
		if index is None:
			index = n - 1
		else:
			holders.add(index)
		weights[index] += params[role]
	rest = max(1.0 - sum(params[role] for role in roles), 0.0)
	others = [i for i in range(n) if i not in holders]
	if others:
		for i in others:
			weights[i] += rest / len(others)
	else:
		weights[-1] += rest
	return weights


def w_shaped(touches: Sequence[Touchpoint], conversion: Conversion, params: dict[str, Any]) -> Weights:
	return _milestone_weights(touches, params, ("first", "lead", "opportunity"))


def full_path(touches: Sequence[Touchpoint], conversion: Conversion, params: dict[str, Any]) -> Weights:
	return _milestone_weights(touches, params, ("first", "lead", "opportunity", "won"))


def custom(touches: Sequence[Touchpoint], conversion: Conversion, params: dict[str, Any]) -> Weights:
	"""By position: `first`/`last` to the first/last touch (both to a single touch), `middle` split over
	the touches in between, or to the last touch when there are none. By channel: each channel's weight
	split evenly over its touches; channels not named get 0."""
	by_channel = {k[len(CHANNEL_PREFIX) :]: v for k, v in params.items() if k.startswith(CHANNEL_PREFIX)}
	if by_channel:
		return channel_weights_to_touches(touches, by_channel)
	n = len(touches)
	weights = [0.0] * n
	weights[0] += params.get("first", 0.0)
	weights[-1] += params.get("last", 0.0)
	middle = params.get("middle", 0.0)
	if n > 2:
		for i in range(1, n - 1):
			weights[i] += middle / (n - 2)
	else:
		weights[-1] += middle
	return weights


def channel_weights_to_touches(touches: Sequence[Touchpoint], channel_weights: dict[str, float]) -> Weights:
	"""A channel's weight split evenly among the touches of that channel (how fits are applied too)."""
	counts = Counter(t.channel for t in touches)
	return [channel_weights.get(t.channel, 0.0) / counts[t.channel] for t in touches]


RULE_MODELS: dict[str, Callable[[Sequence[Touchpoint], Conversion, dict[str, Any]], Weights]] = {
	"first_touch": first_touch,
	"last_touch": last_touch,
	"last_non_direct": last_non_direct,
	"linear": linear,
	"time_decay": time_decay,
	"position_based": position_based,
	"j_shaped": position_based,
	"inverse_j": position_based,
	"w_shaped": w_shaped,
	"full_path": full_path,
	"custom": custom,
}
