"""Time on the site: Frappe stores naive datetimes in the system time zone; the engine works with aware
datetimes and epoch times. These are the only conversions between the two."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from frappe.utils import get_datetime, get_system_timezone, now_datetime


def site_tz() -> ZoneInfo:
	"""The site's system time zone (the zone of every stored datetime)."""
	return ZoneInfo(get_system_timezone())


def aware(value, tz: ZoneInfo | None = None) -> datetime | None:
	"""A stored (naive, system time zone) datetime or datetime string as an aware datetime; None stays None."""
	return get_datetime(value).replace(tzinfo=tz or site_tz()) if value else None


def stored(value: datetime | None, tz: ZoneInfo | None = None) -> datetime | None:
	"""An aware datetime as the naive system-time-zone datetime Frappe stores."""
	return value.astimezone(tz or site_tz()).replace(tzinfo=None) if value else None


def local_datetime(epoch_ms: int, tz: ZoneInfo | None = None) -> datetime:
	"""Epoch milliseconds (a browser's or the redirect's clock) as the naive datetime Frappe stores."""
	return datetime.fromtimestamp(epoch_ms / 1000, tz or site_tz()).replace(tzinfo=None)


def epoch(value) -> float:
	"""A stored datetime as epoch seconds."""
	return aware(value).timestamp()


def now() -> datetime:
	"""Now, aware, in the site's time zone."""
	return now_datetime().replace(tzinfo=site_tz())


def utc_now() -> datetime:
	return now().astimezone(timezone.utc)
