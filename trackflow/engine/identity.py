"""Who a browser says it is, and when to believe it: signed identify calls and the rules for unverified claims.

A browser's `trackflow('identify', {email})` is a *claim*: any page can send any email. It links the visitor
to a CRM Lead only when it is verified:
- signed by the website's backend: `signature` is HMAC-SHA256 of the normalised email under the TrackFlow
  Site's identity secret (as Intercom's identity verification does), or
- the site has turned verification off (its risk stated beside the checkbox), or
- the lead was created by the same browser (a guest web form) or server to server with the visitor id.

An unverified claim is kept on the visitor and shown as unverified. It may link the visitor to a lead only
when no lead had that email before the claim, the lead is created within CLAIM_WINDOW_SECONDS after it, and
no earlier claim for that email exists (first claim wins); it never moves an existing link.
"""

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

CLAIM_WINDOW_SECONDS = 86_400  # an unverified claim may attach to a lead created within a day after it
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def sign(secret: str, email: str) -> str:
	"""The signature a website's backend sends with identify: hex HMAC-SHA256 of the trimmed, lowercased
	email under the site's identity secret."""
	return hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def is_signature(value: object) -> bool:
	return isinstance(value, str) and bool(_SIGNATURE.fullmatch(value))


def verify(secret: str | None, email: str | None, signature: str | None) -> bool:
	"""True when `signature` is the site's signature of `email` (constant-time comparison)."""
	if not secret or not email or not is_signature(signature):
		return False
	return hmac.compare_digest(sign(secret, email), signature)


@dataclass(frozen=True)
class Claim:
	"""An unverified identify: this visitor said it has this email at `at` (epoch seconds)."""

	visitor: str
	email: str
	at: float


def claim_may_link(claim: Claim, lead_created_at: float, earlier_claims: Iterable[Claim] = ()) -> bool:
	"""Whether an unverified claim may link its visitor to a lead with that email, created at
	`lead_created_at`: the lead is newer than the claim but within the window, and no other visitor claimed
	the email first."""
	if not claim.at <= lead_created_at <= claim.at + CLAIM_WINDOW_SECONDS:
		return False
	return not any(
		other.email == claim.email and other.visitor != claim.visitor and other.at < claim.at
		for other in earlier_claims
	)


def first_claims(claims: Iterable[Claim]) -> dict[str, Claim]:
	"""The earliest claim of each email."""
	first: dict[str, Claim] = {}
	for claim in sorted(claims, key=lambda c: (c.at, c.visitor)):
		first.setdefault(claim.email, claim)
	return first
