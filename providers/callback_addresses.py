"""Source-address allow-lists for the callbacks of providers that do not sign them (Gupshup, sendbulk).

Their webhook URLs carry an unguessable token, and that token is all that keeps others out; a
channel may also name the addresses its provider calls from, and a callback from any other is
refused with 403 (and logged, without the token). Gupshup gives its fixed callback addresses on
request. The caller's address is taken as messaging_site/client_address.py says (TRUSTED_PROXY_COUNT).
"""

from __future__ import annotations

import ipaddress
import logging
import re

from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse

from messaging_site.client_address import client_address

log = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def entries(text: str) -> list[str]:
    return [entry for entry in re.split(r"[\s,]+", text or "") if entry]


def networks(text: str) -> list[Network]:
    """The networks of an allow-list (an address is a network of one); bad entries are left out."""
    found = []
    for entry in entries(text):
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return found


def validate_callback_ips(text: str) -> None:
    for entry in entries(text):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValidationError(
                f"callback_ips: {entry[:60]!r} is not an IP address or network "
                "(e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/32).",
                code="callback_ips",
            ) from None


def allows(text: str, address: str | None) -> bool:
    """Whether ``address`` may call: always when the list is empty, never when it is unknown."""
    if not entries(text):
        return True
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip.version == network.version and ip in network for network in networks(text))


def refused(request: HttpRequest, channel, provider_label: str) -> JsonResponse | None:
    """A 403 for a callback from an address the channel does not allow, else None.

    The log line names the channel and the address, never the URL (its token is the secret)."""
    address = client_address(request)
    if channel.accepts_callbacks_from(address):
        return None
    shown = address or "an unknown address"
    log.warning(
        "refused a %s callback for channel %s from %s: not in its callback addresses", provider_label, channel.pk, shown
    )
    return JsonResponse(
        {"error": f"callback_ips: {shown} is not among this channel's callback addresses.", "field": "callback_ips"},
        status=403,
    )
