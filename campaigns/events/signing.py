"""Secrets and signatures, as Standard Webhooks says (the ``standardwebhooks`` package).

A secret is ``whsec_`` and the base64 of 32 random bytes. Each POST carries ``webhook-id`` (the
event's id, the same on every attempt: receivers dedupe on it), ``webhook-timestamp`` (seconds) and
``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of "id.timestamp.body").

Rotation: an administrator rotates an endpoint's secret; for WEBHOOK_SECRET_ROTATION_HOURS the old
one signs as well, its signature after the new one's, space-separated in ``webhook-signature`` (as
Standard Webhooks allows), so a receiver verifying with either accepts while it moves to the new one.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from campaigns.models import SigningSecret, WebhookEndpoint


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


@lru_cache(maxsize=256)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def signed_headers(secrets: str | Sequence[str], event_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three headers; one signature per secret (two while a rotated secret's old one still signs)."""
    at = at.astimezone(UTC)
    keys = [secrets] if isinstance(secrets, str) else secrets
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(_signer(key).sign(event_id, at, body) for key in keys),
    }


def rotate_endpoint_secret(endpoint_id: int) -> WebhookEndpoint:
    """Give the endpoint a new secret; the one it had signs too for WEBHOOK_SECRET_ROTATION_HOURS.
    Rotated again within that time, the secret before is dropped (two signatures at most). The new
    secret is on the returned endpoint, for the administrator to see once."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        now = timezone.now()
        endpoint.previous_secret, endpoint.secret = endpoint.secret, new_secret()
        endpoint.previous_secret_until = now + timedelta(hours=settings.WEBHOOK_SECRET_ROTATION_HOURS)
        endpoint.secret_made_at = now
        endpoint.save(
            update_fields=["secret", "previous_secret", "previous_secret_until", "secret_made_at", "updated_at"]
        )
    return endpoint


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
