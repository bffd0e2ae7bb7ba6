"""WhatsApp templates as last synced from each channel's provider (campaigns/whatsapp/ syncs and checks them)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from providers.models import Channel


class WhatsAppTemplate(models.Model):
    """One template a WhatsApp channel's provider listed: what it says, its variables, its approval."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="whatsapp_templates")
    provider_id = models.CharField(max_length=100, help_text="Twilio's HX... sid or Gupshup's template id.")
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=20, blank=True)
    category = models.CharField(max_length=40, blank=True)
    kind = models.CharField(max_length=60, blank=True, help_text="The provider's type: twilio/text, IMAGE...")
    body = models.TextField(blank=True)
    header = models.JSONField(default=dict, blank=True)
    footer = models.TextField(blank=True)
    buttons = models.JSONField(default=list, blank=True)
    variables = models.JSONField(default=dict, blank=True, help_text="Each variable with its sample value.")
    status = models.CharField(max_length=40, blank=True, help_text="As the provider says: approved, rejected...")
    rejection_reason = models.TextField(blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(help_text="The latest sync that listed it.")
    missing_since = models.DateTimeField(
        null=True, blank=True, help_text="Set when a sync no longer lists it: deleted at the provider."
    )

    class Meta:
        ordering = ["name", "language"]
        verbose_name = "WhatsApp template"
        constraints = [models.UniqueConstraint(fields=["channel", "provider_id"], name="one_template_per_provider_id")]
        indexes = [
            models.Index(fields=["channel", "name"], condition=Q(missing_since__isnull=True), name="wa_template_listed")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})" if self.language else self.name

    @property
    def is_usable(self) -> bool:
        return self.status == "approved" and self.missing_since is None


class TemplateSync(models.Model):
    """How the latest template syncs of one channel went: a failed sync keeps the last good list."""

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, primary_key=True, related_name="template_sync")
    last_tried_at = models.DateTimeField(null=True, blank=True)
    last_worked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="Why the latest sync failed; empty when it worked.")
    listed = models.PositiveIntegerField(default=0, help_text="Templates the latest good sync listed.")
    not_before = models.DateTimeField(null=True, blank=True, help_text="The provider asked us to wait until then.")

    def __str__(self) -> str:
        return f"Template sync of channel {self.channel_id}"


class NotOnWhatsApp(models.Model):
    """A number WhatsApp said is not on it (Twilio 63003/63024, Gupshup 1002...), and when we learned it.

    WhatsApp campaigns with an SMS fallback send these numbers the SMS at once, for
    WHATSAPP_RECHECK_DAYS after ``learned_at``; after that WhatsApp is tried again (campaigns/whatsapp/fallback.py).
    """

    number = models.CharField(max_length=16, unique=True, help_text="E.164")
    learned_at = models.DateTimeField()
    error_code = models.CharField(max_length=32, blank=True)
    channel = models.ForeignKey(Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = "number not on WhatsApp"
        verbose_name_plural = "numbers not on WhatsApp"

    def __str__(self) -> str:
        return self.number
