"""Privacy helpers: IP address truncation (the only form in which a visitor's address leaves the request)
and scrubbing personal data from error messages."""

import re
import socket

DEFAULT_IPV4_PREFIX = 24
DEFAULT_IPV6_PREFIX = 48


def truncate_ip(
	ip: str | None, ipv4_prefix: int = DEFAULT_IPV4_PREFIX, ipv6_prefix: int = DEFAULT_IPV6_PREFIX
) -> str | None:
	"""The network address of `ip` at the given prefix length ("203.0.113.77" -> "203.0.113.0").

	IPv4-mapped IPv6 addresses ("::ffff:203.0.113.77") are treated as the IPv4 address they carry, so
	a dual-stack proxy cannot smuggle a full IPv4 address through the IPv6 rule. A zone ("fe80::1%eth0")
	is dropped. Anything that is not an IP address (None, "", "unknown", "1.2.3") gives None.
	Prefix lengths outside 0-32 / 0-128 raise ValueError: that is a programming error, not user input.
	"""
	if not 0 <= ipv4_prefix <= 32 or not 0 <= ipv6_prefix <= 128:
		raise ValueError(f"prefix lengths out of range: IPv4 /{ipv4_prefix}, IPv6 /{ipv6_prefix}")
	if not ip or not isinstance(ip, str):
		return None
	text = ip.strip().split("%", 1)[0]
	if text.startswith("[") and text.endswith("]"):
		text = text[1:-1]
	# inet_pton is strict (no "1.2.3", no leading zeros) and about ten times faster than ipaddress.
	family = socket.AF_INET6 if ":" in text else socket.AF_INET
	try:
		packed = socket.inet_pton(family, text)
	except (OSError, ValueError):
		return None
	if family == socket.AF_INET6 and packed[:12] == b"\0" * 10 + b"\xff\xff":
		family, packed = socket.AF_INET, packed[12:]  # IPv4-mapped
	prefix = ipv4_prefix if family == socket.AF_INET else ipv6_prefix
	bits = len(packed) * 8
	value = int.from_bytes(packed, "big") >> (bits - prefix) << (bits - prefix) if prefix else 0
	return socket.inet_ntop(family, value.to_bytes(len(packed), "big"))


_EMAIL_IN_TEXT = re.compile(r"[^\s@'\"]+@[^\s@'\"]+")
_LONG_NUMBER = re.compile(r"\d{5,}")


def scrub_text(text: str) -> str:
	"""`text` with emails and long numbers (phones, ids) replaced: database errors and tracebacks quote the
	values they refused."""
	return _LONG_NUMBER.sub("[number]", _EMAIL_IN_TEXT.sub("[email]", text))


def scrub_personal_data(message: object) -> str:
	"""An error message fit for a dead letter or a status field: scrubbed, one line, at most 300 characters."""
	return scrub_text(" ".join(str(message).split()))[:300]


# From the most restrictive: a person's consent is the least any of their browsers gave.
CONSENT_ORDER = ("denied", "unknown", "granted")


def person_consent(states) -> str:
	"""The consent of a person with several visitors (browsers): the most restrictive of theirs, so a
	denial in any browser means nothing identifying about them leaves the site. No visitor: "unknown"."""
	ranks = [CONSENT_ORDER.index(s) if s in CONSENT_ORDER else 1 for s in states]
	return CONSENT_ORDER[min(ranks)] if ranks else "unknown"
