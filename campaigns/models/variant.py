"""A/B variants: the texts (or templates) a campaign splits its audience between (campaigns/variants/)."""

from __future__ import annotations

from django.db import models

from campaigns.models.campaign import Campaign
from campaigns.models.template import MessageTemplate

LETTERS = "ABCDE"
MOST_VARIANTS = len(LETTERS)


class CampaignVariant(models.Model):
    """One version of a campaign's message and the share of recipients who get it.

    A message records its variant by ``position`` (OutboundMessage.variant), so a variant keeps its
    position once messages exist: variants change only until the campaign starts.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    position = models.PositiveSmallIntegerField(help_text="1 for A, 2 for B...")
    text = models.TextField(blank=True, help_text="May hold placeholders such as {{ first_name }}.")
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text="Instead of a text: a message template (a WhatsApp template's too).",
    )
    share = models.PositiveSmallIntegerField("split %", help_text="The share of recipients who get it, in percent.")

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [models.UniqueConstraint(fields=["campaign", "position"], name="one_variant_per_position")]

    def __str__(self) -> str:
        return f"Variant {self.letter}"

    @property
    def letter(self) -> str:
        return letter(self.position)

    # The same three questions a campaign answers about its own content (sending reads either).
    def message_text(self) -> str:
        return self.text or (self.template.body if self.template else "")

    def message_media(self) -> list[str]:
        return [self.template.media_url] if self.template and self.template.media_url else []

    def message_provider_template(self) -> dict | None:
        return self.template.provider_template if self.template else None


def letter(position: int | None) -> str:
    """A variant's name as staff read it: 1 is A, 2 is B; "" for none."""
    return LETTERS[position - 1] if position and 0 < position <= MOST_VARIANTS else ""


def content_of(campaign: Campaign, position: int | None):
    """What a message of ``campaign`` with variant ``position`` says: that variant, or the campaign
    itself when it has none (reads ``campaign.variants.all()``, so prefetch it for many messages)."""
    if position is None:
        return campaign
    for variant in campaign.variants.all():
        if variant.position == position:
            return variant
    return campaign
