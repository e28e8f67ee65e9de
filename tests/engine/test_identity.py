"""Identity verification: signatures a website's backend makes, and when an unverified claim may link."""

import hashlib
import hmac

import pytest

from trackflow.engine.collect import parse_collect
from trackflow.engine.errors import ValidationError
from trackflow.engine.identity import CLAIM_WINDOW_SECONDS, Claim, claim_may_link, first_claims, sign, verify

SECRET = "3f" * 32


def test_the_signature_is_hmac_sha256_of_the_normalised_email():
	expected = hmac.new(SECRET.encode(), b"ada@example.com", hashlib.sha256).hexdigest()
	assert sign(SECRET, "  Ada@Example.COM ") == expected
	assert verify(SECRET, "ada@example.com", expected)


def test_wrong_missing_or_malformed_signatures_do_not_verify():
	good = sign(SECRET, "ada@example.com")
	assert not verify(SECRET, "eve@example.com", good)  # another email
	assert not verify("other-secret", "ada@example.com", good)  # another site's secret
	assert not verify(SECRET, "ada@example.com", None)
	assert not verify(SECRET, "ada@example.com", good.upper())
	assert not verify(SECRET, "ada@example.com", good[:-1])
	assert not verify(None, "ada@example.com", good)  # a site without a secret verifies nothing


def test_an_unverified_claim_links_only_a_newer_lead_within_the_window_and_only_the_first():
	claim = Claim("v1", "ada@example.com", 1000.0)
	assert claim_may_link(claim, 1000.0 + 60)
	assert not claim_may_link(claim, 999.0)  # the lead existed before the claim
	assert not claim_may_link(claim, 1000.0 + CLAIM_WINDOW_SECONDS + 1)
	earlier = Claim("v0", "ada@example.com", 900.0)
	assert not claim_may_link(claim, 1100.0, [earlier])  # someone claimed the email first
	assert claim_may_link(claim, 1100.0, [Claim("v2", "ada@example.com", 1200.0)])
	assert claim_may_link(claim, 1100.0, [Claim("v0", "bob@example.com", 900.0)])
	assert first_claims([claim, earlier]) == {"ada@example.com": earlier}


def test_collect_takes_a_signature_with_an_email_only():
	import json

	def body(traits):
		return json.dumps(
			{
				"site": "pk_live_ABCdef-123",
				"v": 1,
				"visitor": "a" * 32,
				"session": "b" * 32,
				"sent_at": 1_767_225_600_000,
				"events": [
					{
						"type": "identify",
						"id": "c" * 32,
						"ts": 1_767_225_600_000,
						"url": "https://x.example/",
						"traits": traits,
					}
				],
			}
		).encode()

	signature = sign(SECRET, "ada@example.com")
	batch = parse_collect(body({"email": "ada@example.com", "signature": signature}), now=1_767_225_600)
	assert batch.events[0].traits.signature == signature
	for bad in ({"name": "Ada", "signature": signature}, {"email": "ada@example.com", "signature": "xyz"}):
		with pytest.raises(ValidationError, match="signature"):
			parse_collect(body(bad), now=1_767_225_600)
