"""The addresses a channel's provider calls us on, as the channel page shows them to administrators.

Each URL carries the channel's webhook token (the only thing keeping others out of Gupshup's and
sendbulk's callbacks), so only staff who may change channels see them. They are built from
PUBLIC_BASE_URL: while that is a loopback address no provider can reach them, and the page says so.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from providers.models import Channel


@dataclass(frozen=True)
class WebhookAddress:
    label: str
    url: str


def webhook_addresses(channel: Channel) -> list[WebhookAddress]:
    """The webhooks of the channel's provider, in the order its setup steps name them."""
    provider = channel.provider_class()
    return [WebhookAddress(label, channel.webhook_url(kind)) for kind, label in provider.webhooks.items()]


def setup_steps(channel: Channel) -> tuple[str, ...]:
    return channel.provider_class().webhook_setup


def is_loopback(base_url: str) -> bool:
    """Whether providers out on the internet cannot reach ``base_url`` (this machine's own address)."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def unreachable_warning() -> str:
    """Why providers cannot call the addresses shown, or '' when PUBLIC_BASE_URL looks reachable."""
    base = settings.PUBLIC_BASE_URL
    if not is_loopback(base):
        return ""
    return (
        f"PUBLIC_BASE_URL is {base}, an address of this machine only: Twilio, Gupshup and sendbulk cannot "
        "reach it, so they cannot report deliveries or pass on replies. Set PUBLIC_BASE_URL to the address "
        "the internet reaches this site at (for a trial, a tunnel such as ngrok) and restart."
    )
