"""IP truncation: IPv4 /24, IPv6 /48 by default, mapped addresses, bad input."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackflow.engine.privacy import truncate_ip


@pytest.mark.parametrize(
	"ip, expected",
	[
		("203.0.113.77", "203.0.113.0"),
		(" 203.0.113.77 ", "203.0.113.0"),
		("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
		("::ffff:198.51.100.9", "198.51.100.0"),  # IPv4-mapped: the IPv4 rule, not /48
		("fe80::1%eth0", "fe80::"),
		("[2001:db8::1]", "2001:db8::"),
		("127.0.0.1", "127.0.0.0"),
	],
)
def test_default_prefixes(ip, expected):
	assert truncate_ip(ip) == expected


@pytest.mark.parametrize("bad", [None, "", "unknown", "1.2.3", "300.1.1.1", "1.2.3.4.5", "::g", 42])
def test_invalid_input_gives_none(bad):
	assert truncate_ip(bad) is None


def test_configurable_prefixes():
	assert truncate_ip("10.20.30.40", ipv4_prefix=16) == "10.20.0.0"
	assert truncate_ip("10.20.30.40", ipv4_prefix=32) == "10.20.30.40"
	assert truncate_ip("2001:db8:1:2:3::9", ipv6_prefix=64) == "2001:db8:1:2::"
	with pytest.raises(ValueError):
		truncate_ip("10.0.0.1", ipv4_prefix=33)


@given(st.ip_addresses(v=4))
def test_ipv4_keeps_exactly_the_first_three_octets(address):
	assert truncate_ip(str(address)) == ".".join([*str(address).split(".")[:3], "0"])


@given(st.ip_addresses(v=6))
def test_ipv6_never_keeps_bits_beyond_the_prefix(address):
	import ipaddress

	truncated = ipaddress.ip_address(truncate_ip(str(address)))
	if address.ipv4_mapped is None:
		assert int(truncated) & ((1 << 80) - 1) == 0
		assert int(truncated) >> 80 == int(address) >> 80


def test_a_persons_consent_is_the_most_restrictive_of_their_browsers():
	from trackflow.engine.privacy import person_consent

	assert person_consent(["granted", "granted"]) == "granted"
	assert person_consent(["granted", "unknown"]) == "unknown"
	assert person_consent(["granted", "denied", "unknown"]) == "denied"
	assert person_consent([]) == "unknown"
	assert person_consent(["granted", None]) == "unknown"


def test_destinations_send_only_to_the_platforms_hosts_unless_allowed():
	import pytest

	from trackflow.engine.errors import ValidationError
	from trackflow.engine.forwarding.types import (
		GA4,
		META,
		Destination,
		is_platform_url,
		validate_destination,
	)

	assert is_platform_url(META, "https://graph.facebook.com")
	assert is_platform_url(GA4, "https://region1.google-analytics.com")
	assert not is_platform_url(META, "http://graph.facebook.com")
	assert not is_platform_url(META, "https://graph.facebook.com.evil.example")
	values = {
		"platform": META,
		"api_base_url": "https://10.0.0.5",
		"meta_dataset_id": "1234567890",
		"meta_access_token": "t",
	}
	with pytest.raises(ValidationError, match=r"must be on graph\.facebook\.com"):
		validate_destination(values)
	validate_destination(values, allow_any_base_url=True)
	destination = Destination("d", META, meta_access_token="EAAB-token", ga4_api_secret="ga4-secret")
	assert "EAAB-token" not in repr(destination) and "ga4-secret" not in repr(destination)
