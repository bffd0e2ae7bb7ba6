from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from providers.callback_addresses import allows, validate_callback_ips
from providers.credentials import EncryptedJSONField, EncryptedTextField, lookup_hash
from providers.destinations import origin_of, origins_of, validate_api_base_url
from providers.registry import provider_choices, provider_class


def new_channel_key() -> str:
    return secrets.token_urlsafe(24)


class ChannelQuerySet(models.QuerySet):
    def with_webhook_token(self, token: str) -> ChannelQuerySet:
        """The channel whose callback URLs carry ``token`` (the database keeps only its hash)."""
        return self.filter(webhook_token_hash=lookup_hash(token))


class Channel(models.Model):
    """One sending identity at one provider: a Twilio number, a WhatsApp sender, a sendbulk account.

    API clients name it by channel_key; the send pipeline finds its provider class through
    ``provider``. Credentials are encrypted at rest (providers/credentials.py) and never rendered
    back by the admin.
    """

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=16, choices=provider_choices())
    channel_key = models.CharField(max_length=64, unique=True, default=new_channel_key, editable=False)
    # The unguessable part of this channel's webhook URLs (status callbacks, inbound messages):
    # encrypted like the credentials, and found by its hash (Channel.objects.with_webhook_token).
    webhook_token = EncryptedTextField(default=new_channel_key, editable=False)
    webhook_token_hash = models.CharField(max_length=64, unique=True, editable=False)
    sender = models.CharField(
        max_length=100,
        blank=True,
        help_text="Who the message comes from: a number in E.164, a short code, a sender id, "
        "or a Twilio Messaging Service SID (MG...).",
    )
    credentials = EncryptedJSONField(default=dict, blank=True)
    # The origins (scheme://host:port) the credentials were entered for, space-separated: a
    # provider sends them nowhere else (providers/destinations.py). Set by enter_credentials().
    credentials_entered_for = models.TextField(blank=True, default="", editable=False)
    rate_limit = models.FloatField(
        default=10.0,
        validators=[MinValueValidator(0.01)],
        help_text="Messages per second this channel may send, across all workers.",
    )
    batch_size = models.PositiveIntegerField(
        default=0,
        help_text="Messages per request for providers that take many at once (0 = the provider's maximum).",
    )
    api_base_url = models.URLField(
        blank=True,
        validators=[validate_api_base_url],
        help_text="Override the provider's API address (a reseller host, or a local fake): http(s) only. "
        "Changing its host means typing the credentials again: they are only sent where they were entered for.",
    )
    callback_ips = models.TextField(
        "Callback addresses",
        blank=True,
        validators=[validate_callback_ips],
        help_text="Gupshup and sendbulk: the only addresses allowed to call this channel's webhooks, "
        "comma-separated or one per line, each an address (203.0.113.7) or a network (203.0.113.0/24). "
        "Empty: any address, guarded only by the token in the URL. Gupshup gives its fixed callback "
        "addresses on request (ask its support); behind a proxy set TRUSTED_PROXY_COUNT.",
    )
    price_per_segment = models.DecimalField(
        max_digits=8,
        decimal_places=4,
        default=0,
        help_text="What one message segment costs on this channel, for cost estimates (0 = unknown).",
    )
    currency = models.CharField(
        max_length=3,
        blank=True,
        validators=[
            RegexValidator(r"^[A-Z]{3}$", "Currency: %(value)s is not a three-letter currency code such as USD or EUR.")
        ],
        help_text="The price's currency, as a three-letter code (USD, EUR, KES...).",
    )
    options = models.JSONField(default=dict, blank=True, help_text="Provider-specific settings.")
    is_active = models.BooleanField(default=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.credentials and not self.credentials_entered_for:
            self.bind_credentials()  # a channel created with its credentials: they are for where it points
        if "webhook_token" not in self.get_deferred_fields():
            self.webhook_token_hash = lookup_hash(self.webhook_token)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "webhook_token" in update_fields:
            kwargs["update_fields"] = {*update_fields, "webhook_token_hash"}
        super().save(*args, **kwargs)

    @property
    def can_send(self) -> bool:
        return self.is_active and self.paused_at is None

    def provider_class(self):
        return provider_class(self.provider)

    def enter_credentials(self, credentials: dict) -> None:
        """Store new credentials, for the addresses the channel points at now (and only those)."""
        self.credentials = credentials
        self.bind_credentials()

    def bind_credentials(self) -> None:
        self.credentials_entered_for = " ".join(self.destinations())

    def destinations(self) -> list[str]:
        """The origins this channel's provider would send credentials to, as it is configured now."""
        return origins_of(self.provider_class()(self).credential_urls())

    def credentials_may_go_to(self, url: str) -> bool:
        return origin_of(url) in self.credentials_entered_for.split()

    def accepts_callbacks_from(self, address: str | None) -> bool:
        """Whether a webhook call from ``address`` may be read (any address when no list is set)."""
        return allows(self.callback_ips, address)

    def webhook_url(self, kind: str) -> str:
        """The public address a provider calls back on, e.g. kind='status' or 'inbound'."""
        return f"{settings.PUBLIC_BASE_URL}/webhooks/{self.provider}/{self.webhook_token}/{kind}"


class ReceivedEvent(models.Model):
    """A receipt or reply a provider told us about, waiting for the receiving worker to apply it.

    Webhooks answer as soon as this row is written (providers.events.take): the provider's word is
    then safe in the database whatever happens to Redis or the workers, and the worker
    (campaigns.receiving) applies and deletes rows in batches, in one transaction each, so a kill
    mid-batch leaves them for the next run. The channel is a plain number, not a foreign key, so
    taking a callback is one INSERT that no lock on the channel can slow; events of a channel
    deleted meanwhile find no message and are dropped.
    """

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "delivery receipt"
        INBOUND = "inbound", "inbound message"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    channel_id = models.BigIntegerField()
    event = models.JSONField(help_text="The parsed event (providers.events), without its channel.")
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on channel {self.channel_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"
