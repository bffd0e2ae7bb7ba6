"""Reading Gupshup's inbound user messages into InboundEvents, or refusing them naming the field.

Two shapes arrive at the one callback URL (Gupshup's "inbound message events", v2 and Meta's v3):
- v2: {"app", "timestamp": ms, "type": "message", "payload": {"id", "source", "type", "payload": {...},
  "sender": {"phone", "name"}}}, the inner payload {"text"} for text, {"caption", "url", "contentType"}
  for image/file/audio/video/sticker, {"latitude", "longitude", "name", "address"} for a location,
  {"title", "id", "reply"} for button and list replies.
- v3 (Meta's): entry[].changes[].value with messages[] {"from", "id", "timestamp": seconds, "type",
  "<type>": {...}} and contacts[] {"wa_id", "profile": {"name"}}.
A message of a type we do not read (a reaction, a contact card) is stored with its type in words,
so nothing a person sent is dropped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts.phones import normalise_phone
from providers.events import InboundEvent, InboundMedia
from providers.webhook_input import MAX_MEDIA_URL_CHARS, MAX_TEXT_CHARS, BadInput, provider_id, shown

log = logging.getLogger(__name__)

MEDIA_TYPES = {"image", "file", "document", "audio", "video", "sticker", "voice"}
EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)  # before WhatsApp Business existed: not a real time
CLOCK_SKEW = timedelta(days=1)  # a sender's time a little ahead of ours is a clock, not an attack


def v2_event(channel_id: int, body: dict, payload: dict) -> InboundEvent:
    """A v2 ``type: "message"`` callback; ``payload`` is body["payload"]."""
    sender = _object(payload.get("sender"), "payload.sender")
    kind = str(payload.get("type") or "")
    inner = _object(payload.get("payload"), "payload.payload")
    text, media = _content(kind, inner, "payload.payload", url_key="url", type_key="contentType")
    return InboundEvent(
        channel_id=channel_id,
        phone=_phone(sender.get("phone") or payload.get("source"), "payload.sender.phone"),
        text=text,
        provider_message_id=_required_id(payload.get("id"), "payload.id"),
        media=media,
        profile_name=_name(sender.get("name")),
        at=moment(body.get("timestamp"), "timestamp", per_second=1000),
        replied_to_provider_id=_context_id(payload.get("context"), "payload.context"),
    )


def v3_events(channel_id: int, value: dict) -> list[InboundEvent]:
    """Every message of one v3 ``changes[].value``."""
    names = {}
    for index, item in enumerate(_list(value.get("contacts"), "contacts")):
        contact = _object(item, f"contacts[{index}]")
        names[str(contact.get("wa_id") or "")] = _name(_object(contact.get("profile"), "profile").get("name"))
    events = []
    for index, item in enumerate(_list(value.get("messages"), "messages")):
        message = _object(item, f"messages[{index}]")
        kind = str(message.get("type") or "")
        where = f"messages[{index}].{kind}"
        details = message.get(kind) if isinstance(message.get(kind), dict) else {}
        text, media = _content(kind, details, where, url_key="url", type_key="mime_type")
        sender = str(message.get("from") or "")
        events.append(
            InboundEvent(
                channel_id=channel_id,
                phone=_phone(sender, f"messages[{index}].from"),
                text=text,
                provider_message_id=_required_id(message.get("id"), f"messages[{index}].id"),
                media=media,
                profile_name=names.get(sender) or (next(iter(names.values())) if len(names) == 1 else ""),
                at=moment(message.get("timestamp"), f"messages[{index}].timestamp", per_second=1),
                replied_to_provider_id=_context_id(message.get("context"), f"messages[{index}].context"),
            )
        )
    return events


def _content(kind: str, details: dict, where: str, *, url_key: str, type_key: str) -> tuple[str, tuple]:
    """(text, media) of one message of type ``kind``."""
    if kind == "text":
        text = details.get("text", details.get("body", ""))
    elif kind in MEDIA_TYPES:
        text = details.get("caption") or details.get("filename") or details.get("name") or ""
        return _text(text, f"{where}.caption"), _media(details, where, url_key, type_key)
    elif kind == "location":
        text = _location(details)
    elif kind == "interactive":  # v3: a tapped button or list row
        reply = details.get("button_reply") or details.get("list_reply") or {}
        text = reply.get("title", "") if isinstance(reply, dict) else ""
    else:  # button_reply, list_reply, quick_reply (v2), button (v3)
        text = details.get("title") or details.get("text") or details.get("reply") or ""
    text = _text(text, f"{where}.text")
    return text or f"({kind or 'unknown'} message)", ()


def _media(details: dict, where: str, url_key: str, type_key: str) -> tuple[InboundMedia, ...]:
    url = details.get(url_key) or details.get("link") or ""
    if not url:
        return ()  # Meta's media id only: nothing we can fetch or show
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise BadInput(f"{where}.{url_key}", f"{shown(str(url))} is not an http(s) address.")
    if len(url) > MAX_MEDIA_URL_CHARS:
        raise BadInput(
            f"{where}.{url_key}",
            f"{len(url):,} characters, more than the {MAX_MEDIA_URL_CHARS:,} a media URL may have.",
        )
    content_type = details.get(type_key) or ""
    return (InboundMedia(url=url, content_type=str(content_type)[:100]),)


def _location(details: dict) -> str:
    where = ", ".join(str(details[key]) for key in ("name", "address") if details.get(key))
    point = f"{details.get('latitude', '?')}, {details.get('longitude', '?')}"
    return f"Location: {point}" + (f" ({where})" if where else "")


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise BadInput(field, f"expected text, not {type(value).__name__}.")
    if len(value) > MAX_TEXT_CHARS:
        raise BadInput(field, f"{len(value):,} characters, more than the {MAX_TEXT_CHARS:,} a reply may have.", 413)
    return value


def _phone(value: object, field: str) -> str:
    try:
        return normalise_phone(str(value or ""), field=field)
    except ValidationError as error:
        raise BadInput(field, error.messages[0].removeprefix(f"{field}: ")) from None


def _required_id(value: object, field: str) -> str:
    found = provider_id(value, field)
    if not found:
        raise BadInput(field, "missing: a message without Gupshup's id could not be told from its retries.")
    return found


def _context_id(value: object, field: str) -> str:
    """Gupshup's id of the message a reply quotes (the one we stored when sending), else ""."""
    context = _object(value, field)
    return provider_id(context.get("gsId") or context.get("gs_id"), f"{field}.gsId")


def _name(value: object) -> str:
    return value.strip()[:200] if isinstance(value, str) else ""


def moment(value: object, field: str, per_second: int) -> datetime:
    """A provider's Unix time (seconds or milliseconds, number or digits); now when absent, or when it
    is no time a message could have been sent (then the message is as of when we heard: a clock gone
    wrong must not lose the message, nor pin its conversation to the top of the inbox for years)."""
    if value is None or value == "":
        return timezone.now()
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInput(field, f"expected a Unix time, not {type(value).__name__}.")
    try:
        at = datetime.fromtimestamp(float(value) / per_second, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise BadInput(field, f"{shown(str(value))} is not a Unix time.") from None
    if not EARLIEST <= at <= timezone.now() + CLOCK_SKEW:
        log.warning("%s %s is %s, no time a message was sent: taken as now", field, shown(str(value)), at)
        return timezone.now()
    return at


def _object(value: object, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(field, f"expected an object, not {type(value).__name__}.")
    return value


def _list(value: object, field: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadInput(field, f"expected a list, not {type(value).__name__}.")
    return value
