"""Reusable message text with placeholders, and optionally a provider-approved WhatsApp template."""

from __future__ import annotations

from django.db import models


class MessageTemplate(models.Model):
    """Reusable message text with {{placeholders}}, and optionally a provider-approved template."""

    name = models.CharField(max_length=200, unique=True)
    body = models.TextField(blank=True, help_text="Text with placeholders such as {{ name }}.")
    media_url = models.URLField(blank=True)
    provider_template = models.JSONField(
        null=True,
        blank=True,
        help_text='A provider template: {"id": "HX...", "variables": {"1": "{{ name }}"}}.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
