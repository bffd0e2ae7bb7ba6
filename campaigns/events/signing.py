"""Secrets and signatures, as Standard Webhooks says (the ``standardwebhooks`` package).

A secret is ``whsec_`` and the base64 of 32 random bytes. Each POST carries ``webhook-id`` (the
event's id, the same on every attempt: receivers dedupe on it), ``webhook-timestamp`` (seconds) and
``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of "id.timestamp.body").
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from functools import lru_cache

from django.db import transaction
from standardwebhooks.webhooks import Webhook

from campaigns.models import SigningSecret


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


@lru_cache(maxsize=256)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def signed_headers(secret: str, event_id: str, body: str, at: datetime) -> dict[str, str]:
    at = at.astimezone(UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": _signer(secret).sign(event_id, at, body),
    }


def status_callback_secret() -> str:
    """The account's secret for status callbacks, made on first need."""
    found = SigningSecret.objects.order_by("-id").first()
    if found is not None:
        return found.secret
    with transaction.atomic():
        return SigningSecret.objects.create(secret=new_secret()).secret


def replace_status_callback_secret() -> str:
    """A new secret for status callbacks; the old one stops signing at once. Returns it (shown once)."""
    secret = new_secret()
    with transaction.atomic():
        SigningSecret.objects.all().delete()
        SigningSecret.objects.create(secret=secret)
    return secret
