"""Default channel grouping: (source, medium, referrer, click ids) -> channel, GA4-like, overridable.

The default rules follow GA4's default channel group (medium patterns, lists of search, social and
video sites, paid click ids), folded into TrackFlow's channels: direct, organic_search, paid_search,
organic_social, paid_social, email, referral, display, affiliate, video, sms, qr, offline, other.
Override rules are tried first, in order; the first rule whose conditions all match decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from trackflow.engine.errors import ValidationError

CHANNELS = (
	"direct",
	"organic_search",
	"paid_search",
	"organic_social",
	"paid_social",
	"email",
	"referral",
	"display",
	"affiliate",
	"video",
	"sms",
	"qr",
	"offline",
	"other",
)

SEARCH_SITES = frozenset(
	"google bing yahoo duckduckgo baidu yandex ecosia naver seznam qwant startpage ask aol brave"
	" sogou so.com daum search.yahoo".split()
)
SOCIAL_SITES = frozenset(
	"facebook fb instagram ig linkedin lnkd twitter x t.co tiktok pinterest reddit snapchat threads"
	" whatsapp telegram discord mastodon quora tumblr vk weibo wechat line xing meta messenger".split()
)
VIDEO_SITES = frozenset("youtube youtu.be vimeo twitch dailymotion wistia".split())
PAID_SEARCH_CLICK_IDS = frozenset(("gclid", "gbraid", "wbraid", "msclkid", "yclid"))
PAID_SOCIAL_CLICK_IDS = frozenset(("ttclid", "li_fat_id", "twclid", "sccid", "rdt_cid", "epik"))
DISPLAY_CLICK_IDS = frozenset(("dclid",))

PAID_MEDIUM = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
DISPLAY_MEDIUM = frozenset(("display", "banner", "expandable", "interstitial", "cpm"))
SOCIAL_MEDIUM = frozenset(
	("social", "social-network", "social-media", "sm", "social network", "social media")
)
EMAIL_PATTERN = re.compile(r"^(email|e-mail|e_mail|e mail|newsletter)$")
NONE_VALUES = frozenset(("", "(none)", "(not set)", "none", "(direct)", "direct"))


def _host(referrer: str | None) -> str:
	if not referrer:
		return ""
	text = referrer.strip().lower()
	if "//" not in text:
		text = "//" + text
	try:
		host = urlsplit(text).hostname or ""
	except ValueError:
		return ""
	return host.removeprefix("www.").removeprefix("m.")


def _site_match(name: str, sites: frozenset[str]) -> bool:
	"""`name` (a source like "google" or a host like "news.google.co.uk") belongs to one of `sites`."""
	if not name:
		return False
	if name in sites:
		return True
	labels = name.split(".")
	# Any label or pair of labels of the host: "l.facebook.com" -> facebook, "t.co" -> t.co.
	return any(label in sites for label in labels) or any(
		".".join(labels[i : i + 2]) in sites for i in range(len(labels) - 1)
	)


@dataclass(frozen=True)
class ChannelRule:
	"""An override: the channel to give when every given condition matches (regexes, full match,
	case-insensitive; `click_id` is a click id parameter name that must be present)."""

	channel: str
	source: re.Pattern[str] | None = None
	medium: re.Pattern[str] | None = None
	referrer: re.Pattern[str] | None = None
	click_id: str | None = None

	def matches(self, source: str, medium: str, referrer: str, click_ids: frozenset[str]) -> bool:
		return (
			(self.source is None or bool(self.source.fullmatch(source)))
			and (self.medium is None or bool(self.medium.fullmatch(medium)))
			and (self.referrer is None or bool(self.referrer.fullmatch(referrer)))
			and (self.click_id is None or self.click_id in click_ids)
		)


def parse_rules(rules: Iterable[Mapping[str, str] | ChannelRule]) -> list[ChannelRule]:
	"""Validate override rules given as mappings {"channel": ..., "source"/"medium"/"referrer": regex,
	"click_id": name}; rule numbers in errors count from 1."""
	parsed = []
	for number, rule in enumerate(rules, start=1):
		if isinstance(rule, ChannelRule):
			parsed.append(rule)
			continue
		unknown = set(rule) - {"channel", "source", "medium", "referrer", "click_id"}
		if unknown:
			raise ValidationError(f"channel rule {number}: unknown field {sorted(unknown)[0]!r}")
		channel = (rule.get("channel") or "").strip()
		if not channel:
			raise ValidationError(f"channel rule {number}: give the channel it assigns")
		patterns = {}
		for field in ("source", "medium", "referrer"):
			text = rule.get(field)
			if text:
				try:
					patterns[field] = re.compile(text, re.IGNORECASE)
				except re.error as error:
					raise ValidationError(f"channel rule {number}: {field} is not a valid regex ({error})")
		click_id = (rule.get("click_id") or "").strip().lower() or None
		if not patterns and not click_id:
			raise ValidationError(
				f"channel rule {number}: give at least one of source, medium, referrer, click_id"
			)
		parsed.append(ChannelRule(channel, click_id=click_id, **patterns))
	return parsed


def classify_channel(
	source: str | None,
	medium: str | None,
	referrer: str | None = None,
	click_ids: Iterable[str] | None = None,
	rules: Sequence[Mapping[str, str] | ChannelRule] | None = None,
) -> str:
	"""The channel of a visit or click. `click_ids` holds the names of click id parameters present
	(gclid, fbclid, msclkid, ...). `rules` (see `parse_rules`) are tried first, in order."""
	src = (source or "").strip().lower()
	med = (medium or "").strip().lower()
	ref = (referrer or "").strip()
	ids = frozenset(c.strip().lower() for c in click_ids or () if c)
	if rules:
		for rule in parse_rules(rules):
			if rule.matches(src, med, ref, ids):
				return rule.channel
	host = _host(ref)
	site = src or host
	paid = bool(PAID_MEDIUM.match(med))
	if med in ("qr", "qr_code", "qrcode") or src in ("qr", "qr_code", "qrcode"):
		return "qr"
	if med in ("offline", "print", "event", "tradeshow", "direct_mail", "tv", "radio", "ooh"):
		return "offline"
	if med == "sms" or src == "sms":
		return "sms"
	if EMAIL_PATTERN.match(src) or EMAIL_PATTERN.match(med):
		return "email"
	if med == "affiliate" or med == "affiliates":
		return "affiliate"
	if ids & DISPLAY_CLICK_IDS or med in DISPLAY_MEDIUM:
		return "display"
	if _site_match(site, VIDEO_SITES) or _site_match(host, VIDEO_SITES) or med == "video":
		return "video"
	if ids & PAID_SEARCH_CLICK_IDS or (paid and (_site_match(site, SEARCH_SITES) or med in ("cpc", "ppc"))):
		if _site_match(site, SOCIAL_SITES):
			return "paid_social"
		return "paid_search"
	if ids & PAID_SOCIAL_CLICK_IDS or (paid and _site_match(site, SOCIAL_SITES)):
		return "paid_social"
	if paid:
		return "display" if med in ("cpm", "cpv", "cpa") else "other"
	if med == "organic" or _site_match(site, SEARCH_SITES) or _site_match(host, SEARCH_SITES):
		return "organic_search"
	if (
		med in SOCIAL_MEDIUM
		or "fbclid" in ids
		or _site_match(site, SOCIAL_SITES)
		or _site_match(host, SOCIAL_SITES)
	):
		return "organic_social"
	if med in ("referral", "app", "link") or host:
		return "referral"
	if src in NONE_VALUES and med in NONE_VALUES:
		return "direct"
	return "other"
