"""Phone numbers in, E.164 out: one place that reads what people type."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError


def normalise_phone(raw: object, region: str | None = None, field: str = "phone") -> str:
    """Return the number as E.164 (+4477...), or raise ValidationError naming the field and value.

    Accepts numbers with or without the leading + (API clients send both); a number without a
    country code is read in DEFAULT_PHONE_REGION.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(f"{field}: {raw!r} is not a phone number.", code="invalid_phone")
    text = raw.strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:") :]
    digits_only = text.replace(" ", "").replace("-", "")
    if digits_only.isdigit() and len(digits_only) > 10:
        # International digits without the +: "447911123456" as Sociocs clients send it.
        text = "+" + digits_only
    try:
        number = phonenumbers.parse(text, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(f"{field}: {raw!r} is not a phone number.", code="invalid_phone") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"{field}: {raw!r} is not a valid phone number.", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
