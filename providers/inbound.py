"""Replies from recipients: STOP/START-style words put their number on the suppression list or take
it off (a contacts matter)."""

from __future__ import annotations

import logging

from contacts.models import Contact, Suppression
from providers.events import InboundEvent
from providers.models import Channel

log = logging.getLogger(__name__)

OPT_OUT_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
OPT_IN_WORDS = {"START", "YES", "UNSTOP"}


def apply_inbound(event: InboundEvent) -> str:
    """Honour STOP/START-style replies; returns 'opted_out', 'opted_in' or ''.

    ``event.opt_out_word`` is what the provider decided itself (Twilio's OptOutType), which wins
    over our reading of the words.
    """
    word = (event.opt_out_word or event.text or "").strip().upper()
    if word in OPT_OUT_WORDS:
        channel = Channel.objects.filter(pk=event.channel_id).values_list("name", flat=True).first() or ""
        Contact.opt_out_phone(event.phone, f"Replied {word}", source=Suppression.Source.REPLY, channel=channel)
        result = "opted_out"
    elif word in OPT_IN_WORDS:
        Contact.opt_in_phone(event.phone)
        result = "opted_in"
    else:
        return ""
    log.info("inbound message on channel %s: %s %s", event.channel_id, event.phone, result.replace("_", " "))
    return result
