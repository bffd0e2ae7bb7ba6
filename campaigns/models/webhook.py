"""Event webhooks to customers' systems: the endpoints administrators register, the outbox of
events waiting for them, and the log of every attempt (campaigns/events/ delivers them)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from providers.credentials import EncryptedTextField


class EventType(models.TextChoices):
    """What an endpoint may ask to be told about."""

    MESSAGE_SENT = "message.sent", "message.sent: the provider took a message"
    MESSAGE_DELIVERED = "message.delivered", "message.delivered: the phone has it"
    MESSAGE_FAILED = "message.failed", "message.failed: it could not be sent"
    MESSAGE_UNDELIVERED = "message.undelivered", "message.undelivered: the provider could not deliver it"
    MESSAGE_READ = "message.read", "message.read: the recipient read it (WhatsApp)"
    MESSAGE_REPLIED = "message.replied", "message.replied: a reply came in"
    CONTACT_OPTED_OUT = "contact.opted_out", "contact.opted_out: a number went on the suppression list"
    BULK_JOB_COMPLETED = "bulk_job.completed", "bulk_job.completed: every message of a bulk job went"
    CAMPAIGN_COMPLETED = "campaign.completed", "campaign.completed: every message of a campaign went"


class WebhookEndpoint(models.Model):
    """A customer's URL that gets the events it asked for, signed with its own secret."""

    url = models.URLField("URL", max_length=500, help_text="Where the events are POSTed (https:// in production).")
    description = models.CharField(max_length=200, blank=True, help_text="What receives them, e.g. 'CRM'.")
    # "whsec_" + base64 of 32 random bytes, as Standard Webhooks spells it; shown once, when made.
    secret = EncryptedTextField(editable=False)
    # After a rotation the secret it replaced signs too (a second signature in webhook-signature, as
    # Standard Webhooks allows) until previous_secret_until, while the receiver moves to the new one.
    previous_secret = EncryptedTextField(blank=True, default="", editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    secret_made_at = models.DateTimeField("secret made at", null=True, blank=True, editable=False)
    event_types = models.JSONField("events to send", default=list)
    events_per_request = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="1: one event per POST, as Standard Webhooks has it (webhook-id is the event's id). Up to 100: "
        "a burst goes as JSON arrays of events, each with its own id to dedupe on; far faster for big campaigns.",
    )
    enabled = models.BooleanField(default=True, help_text="Untick to stop sending; events wait until ticked again.")
    # The first failure since the last success: a day of failures switches the endpoint off.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    # After a failure its events are not tried until then (the backoff of the latest try).
    resting_until = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField("switched off at", null=True, blank=True, editable=False)
    disabled_reason = models.CharField("why it was switched off", max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.description or self.url

    def signing_secrets(self, at=None) -> tuple[str, ...]:
        """The secrets that sign its events now: its own, and the one it replaced during the grace period."""
        at = at or timezone.now()
        if self.previous_secret and self.previous_secret_until and self.previous_secret_until > at:
            return (self.secret, self.previous_secret)
        return (self.secret,)


class SigningSecret(models.Model):
    """The account's secret that signs status callbacks (the status_callback URL of an API request).
    One row; made on first need; an administrator may replace it (the old one then stops signing)."""

    secret = EncryptedTextField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "status callback signing secret"

    def __str__(self) -> str:
        return f"status callback secret made {self.created_at:%Y-%m-%d %H:%M}"


class WebhookEvent(models.Model):
    """The outbox: one row per event and destination (an endpoint, or a request's status_callback URL).

    Written in the transaction of the change that caused it, so an event is recorded exactly when
    its change is; delivered at least once by the events workers, which receivers dedupe on ``event_id``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be delivered"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Given up"

    event_id = models.CharField(max_length=40, help_text="The webhook-id header: the same for every attempt.")
    type = models.CharField(max_length=32, choices=EventType.choices)
    payload = models.JSONField()
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="events", db_index=False
    )
    callback_url = models.CharField("status callback URL", max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = "webhook event"
        indexes = [
            # What the workers claim: only the pending rows, in the order they are due.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_event_due"),
            models.Index(fields=["endpoint", "id"], name="webhook_event_by_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"

    @property
    def destination(self) -> str:
        return self.endpoint.url if self.endpoint_id else self.callback_url


class WebhookAttempt(models.Model):
    """One POST of one event: what the receiver answered (or why there was no answer)."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="attempt_log")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="attempts", db_index=False
    )
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "webhook delivery attempt"
        indexes = [
            models.Index(fields=["endpoint", "id"], name="webhook_attempt_by_endpoint"),
            models.Index(fields=["at"], name="webhook_attempt_at"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.pk} of event {self.event_id}: {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
