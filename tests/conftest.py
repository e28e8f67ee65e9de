"""Shared pytest set-up: a deterministic hypothesis profile (no deadline: CI machines vary in speed)."""

from hypothesis import HealthCheck, settings

settings.register_profile(
	"trackflow", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("trackflow")
