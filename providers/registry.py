"""Provider classes keyed by provider code, loaded from settings.MESSAGING_PROVIDERS.

This is the only place that knows which providers exist; nothing else branches on a code.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from providers.base import Provider
    from providers.models import Channel


class UnknownProvider(LookupError):
    pass


@cache
def provider_classes() -> dict[str, type[Provider]]:
    classes = [import_string(path) for path in settings.MESSAGING_PROVIDERS]
    return {cls.code: cls for cls in classes}


def provider_class(code: str) -> type[Provider]:
    try:
        return provider_classes()[code]
    except KeyError:
        known = ", ".join(sorted(provider_classes()))
        raise UnknownProvider(f"provider: {code!r} is not a known provider (known: {known}).") from None


def provider_for(channel: Channel) -> Provider:
    return provider_class(channel.provider)(channel)


def provider_choices() -> list[tuple[str, str]]:
    """Every provider code the product speaks, for model choices (stable across settings)."""
    return [
        ("twlo", "Twilio SMS"),
        ("twlowa", "Twilio WhatsApp"),
        ("gswa", "Gupshup WhatsApp"),
        ("sendbulk", "Sendbulk SMS gateway"),
        ("sandbox", "Sandbox"),
    ]
