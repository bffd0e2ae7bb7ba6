"""Reading a Twilio inbound message (SMS or WhatsApp) into an InboundEvent, or refusing it naming the field.

Twilio posts a form (its messaging webhook parameters): MessageSid, From, To, Body, NumMedia with MediaUrlN and
MediaContentTypeN, and on WhatsApp ProfileName and WaId, with From as "whatsapp:+E164" (or, on newer
accounts, "whatsapp:" and a business-scoped id: then WaId gives the number). OptOutType is set when
Twilio's Advanced Opt-Out decided a keyword itself. Twilio gives no time: the event is as of the
moment the webhook heard it (the receiving worker may apply it later).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import timezone

from contacts.phones import normalise_phone
from providers.events import InboundEvent, InboundMedia
from providers.webhook_input import (
    MAX_MEDIA_ITEMS,
    MAX_MEDIA_URL_CHARS,
    MAX_TEXT_CHARS,
    BadInput,
    provider_id,
    shown,
)

MAX_CONTENT_TYPE_CHARS = 100
OPT_OUT_TYPES = {"STOP", "START", "HELP"}


def inbound_event(channel_id: int, form: QueryDict) -> InboundEvent:
    """The message in ``form`` (already signature-checked and free of NULs), or BadInput."""
    sid_field = "MessageSid" if form.get("MessageSid") else "SmsSid"
    sid = provider_id(form.get(sid_field), sid_field)
    if not sid:
        raise BadInput("MessageSid", "missing: a message without Twilio's id could not be told from its retries.")
    return InboundEvent(
        channel_id=channel_id,
        phone=sender(form),
        text=body(form),
        opt_out_word=opt_out_type(form),
        provider_message_id=sid,
        media=media(form),
        profile_name=form.get("ProfileName", "").strip(),
        at=timezone.now(),
        replied_to_provider_id=provider_id(form.get("OriginalRepliedMessageSid"), "OriginalRepliedMessageSid"),
    )


def sender(form: QueryDict) -> str:
    raw = form.get("From", "").strip()
    number = raw.removeprefix("whatsapp:")
    wa_id = form.get("WaId", "").strip()
    if wa_id and not number.lstrip("+").isdigit():
        number = "+" + wa_id.lstrip("+")  # a business-scoped id in From: WaId is the number
    try:
        return normalise_phone(number, field="From")
    except ValidationError as error:
        raise BadInput("From", error.messages[0].removeprefix("From: ")) from None


def body(form: QueryDict) -> str:
    text = form.get("Body", "")
    if len(text) > MAX_TEXT_CHARS:
        raise BadInput("Body", f"{len(text):,} characters, more than the {MAX_TEXT_CHARS:,} a reply may have.", 413)
    return text


def opt_out_type(form: QueryDict) -> str:
    word = form.get("OptOutType", "").strip().upper()
    if word and word not in OPT_OUT_TYPES:
        raise BadInput("OptOutType", f"{shown(word)} is not one of Twilio's STOP, START or HELP.")
    return word


def media(form: QueryDict) -> tuple[InboundMedia, ...]:
    raw = form.get("NumMedia", "0").strip() or "0"
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_MEDIA_ITEMS:
        raise BadInput("NumMedia", f"{shown(raw)} is not a number of attachments from 0 to {MAX_MEDIA_ITEMS}.")
    return tuple(_attachment(form, index) for index in range(int(raw)))


def _attachment(form: QueryDict, index: int) -> InboundMedia:
    url_field, type_field = f"MediaUrl{index}", f"MediaContentType{index}"
    url = form.get(url_field, "").strip()
    if not url.startswith(("https://", "http://")):
        raise BadInput(url_field, f"{shown(url)} is not an http(s) address, and NumMedia says it is there.")
    if len(url) > MAX_MEDIA_URL_CHARS:
        raise BadInput(
            url_field, f"{len(url):,} characters, more than the {MAX_MEDIA_URL_CHARS:,} a media URL may have."
        )
    content_type = form.get(type_field, "").strip()
    if len(content_type) > MAX_CONTENT_TYPE_CHARS:
        raise BadInput(type_field, f"{shown(content_type)} is longer than {MAX_CONTENT_TYPE_CHARS} characters.")
    return InboundMedia(url=url, content_type=content_type)
