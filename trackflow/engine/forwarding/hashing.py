"""Normalise and SHA-256 contact data exactly as Meta and Google document it."""

import hashlib
import re
import unicodedata

# Sources (read 2026-11):
# - Meta, Conversions API customer information parameters
#   https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters
#   em: trim, lower-case. ph: remove symbols, letters and leading zeros; must include the country code.
#   fn/ln: lower-case, no punctuation; UTF-8 for special characters. external_id: hashing recommended.
# - Google, Measurement Protocol user-provided data (same rules as Google Ads enhanced conversions)
#   https://developers.google.com/analytics/devguides/collection/ga4/uid-data
#   trim, lower-case; phone in E.164 (digits with a leading +); remove every "." before the domain of
#   gmail.com and googlemail.com addresses; names: remove digits and symbols, lower-case, trim.

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_E164_DIGITS = range(7, 16)  # E.164: at most 15 digits with the country code; below 7 is no phone number


def sha256_hex(value: str) -> str:
	"""Lower-case hex SHA-256 of a UTF-8 string."""
	return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _plain_email(raw: str | None) -> str | None:
	email = (raw or "").strip().lower()
	local, at, domain = email.rpartition("@")
	if not at or not local or "." not in domain or " " in email:
		return None
	return email


def normalise_email_meta(raw: str | None) -> str | None:
	"""Meta `em`: trimmed and lower-cased; None when it is no address."""
	return _plain_email(raw)


def normalise_email_google(raw: str | None) -> str | None:
	"""GA4 `sha256_email_address`: as Meta, and without dots in the local part of gmail/googlemail."""
	email = _plain_email(raw)
	if email is None:
		return None
	local, _, domain = email.rpartition("@")
	if domain in _GMAIL_DOMAINS:
		local = local.replace(".", "")
	return f"{local}@{domain}"


def normalise_phone_digits(raw: str | None, default_country_code: str | None = None) -> str | None:
	"""Country code and number as digits only (Meta `ph`): "+49 (0)30 1234-567" -> "49301234567".
	A number without + or 00 gets `default_country_code` after its trunk zeros are dropped; without one it
	is taken to start with its country code. None when no plausible E.164 number remains."""
	text = (raw or "").strip()
	if not text:
		return None
	international = text.startswith("+")
	# "(0)" is the trunk prefix written inside an international number: not a digit of it.
	digits = re.sub(r"\D", "", text.replace("(0)", ""))
	if not international and digits.startswith("00"):
		digits, international = digits[2:], True
	digits = digits.lstrip("0")
	if not international and default_country_code:
		code = re.sub(r"\D", "", default_country_code).lstrip("0")
		if code:
			digits = code + digits
	return digits if len(digits) in _E164_DIGITS else None


def normalise_phone_e164(raw: str | None, default_country_code: str | None = None) -> str | None:
	"""GA4 `sha256_phone_number`: E.164 with its plus, "+49301234567"."""
	digits = normalise_phone_digits(raw, default_country_code)
	return f"+{digits}" if digits else None


def normalise_name(raw: str | None) -> str | None:
	"""First or last name: NFC, lower-case, without punctuation, symbols or digits, spaces collapsed.
	Letters of any script stay (hashed as UTF-8): "  Zoë-Anne O'Brien " -> "zoëanne obrien"."""
	text = unicodedata.normalize("NFC", raw or "").lower()
	kept = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] in "LM")
	name = " ".join(kept.split())
	return name or None


def normalise_external_id(raw: str | None) -> str | None:
	"""Meta `external_id` (TrackFlow sends the lead's name): trimmed, otherwise as is, so it stays stable."""
	text = (raw or "").strip()
	return text or None


def hashed(normalised: str | None) -> str | None:
	"""SHA-256 hex of an already normalised value, None passed through."""
	return sha256_hex(normalised) if normalised else None
