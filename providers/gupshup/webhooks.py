"""Gupshup's calls to us: message events (v2 and v3 formats) and inbound user messages.

Gupshup posts every event of an app to the one callback URL set in its dashboard, so each channel
has its own: /webhooks/gswa/<webhook_token>/events. Gupshup does not sign its callbacks; the
unguessable token in the URL is what keeps others out (and, when the channel lists them, the
addresses Gupshup calls from: providers/callback_addresses.py), so bodies are read as hostile
(providers.webhook_input: size, nesting, NUL and lone surrogates refused with a JSON 400 naming the
field). What a callback says is taken in one INSERT (providers.events.take), however many events
it carries, and answered at once; the receiving worker applies them. Events arrive out of order and
more than once: the receipt book only ever moves a message forward, so replays change nothing. User
messages (providers.gupshup.inbound) are stored once by their id, however often Gupshup retries them.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from providers.callback_addresses import refused
from providers.events import DeliveryState, Event, ReceiptEvent, take
from providers.gupshup.inbound import v2_event, v3_events
from providers.webhook_channels import channel_for_webhook
from providers.webhook_input import BadInput, json_body, provider_id, refuses_hostile_input

log = logging.getLogger(__name__)
Status = DeliveryState

# Gupshup's event types (v2 payload.type, v3 statuses[].status) as our message states.
EVENT_STATUS = {
    "enqueued": Status.SENT,  # Gupshup handed it to WhatsApp
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.READ,
    "failed": Status.FAILED,
}


class Malformed(ValueError):
    """The body is not a Gupshup callback we can read."""


@csrf_exempt
@require_POST
@refuses_hostile_input
def events(request: HttpRequest, token: str) -> JsonResponse:
    channel = channel_for_webhook(token, ("gswa",))
    if channel is None:
        return JsonResponse({"error": "No Gupshup channel has this webhook address."}, status=404)
    if refusal := refused(request, channel, "Gupshup"):
        return refusal
    if not request.body.strip():
        # Gupshup checks a new callback URL with an empty request and wants a 2xx (unconfirmed).
        return JsonResponse({"status": "ok"})
    try:
        events = read_callback(channel.pk, json_body(request))
    except BadInput as error:
        log.warning("refused Gupshup callback on channel %s: %s", channel.pk, error)
        raise
    except Malformed as error:
        log.warning("malformed Gupshup callback on channel %s: %s", channel.pk, error)
        return JsonResponse({"error": f"body: not a Gupshup callback ({error}).", "field": "body"}, status=400)
    # "taken": how many events the worker will apply (replays included: it sorts them out).
    return JsonResponse({"status": "ok", "taken": take(events)})


def read_callback(channel_id: int, body: object) -> list[Event]:
    """The events of one callback (either format), read before any is taken: a malformed part
    refuses the whole body."""
    if not isinstance(body, dict):
        raise Malformed("expected a JSON object")
    if "entry" in body:
        return _read_v3(channel_id, body)
    kind = body.get("type")
    payload = _object(body.get("payload"), "payload")
    if kind == "message-event":
        return _present(_message_event(channel_id, payload))
    if kind == "message":
        return [v2_event(channel_id, body, payload)]
    log.info("Gupshup callback of type %r on channel %s ignored", kind, channel_id)
    return []


def _present(event: Event | None) -> list[Event]:
    return [event] if event is not None else []


def _message_event(channel_id: int, payload: dict) -> ReceiptEvent | None:
    # The first event ("enqueued") carries Gupshup's id as "id"; later ones carry WhatsApp's id
    # there and Gupshup's as "gsId". We stored Gupshup's id when we sent.
    gupshup_id = provider_id(payload.get("gsId"), "payload.gsId") or provider_id(payload.get("id"), "payload.id")
    details = payload.get("payload") if isinstance(payload.get("payload"), dict) else {}
    return _receipt(channel_id, gupshup_id, str(payload.get("type") or ""), details.get("code"), details.get("reason"))


def _read_v3(channel_id: int, body: dict) -> list[Event]:
    """Meta's shape: entry[].changes[].value.statuses[] and .messages[]."""
    events: list[Event | None] = []
    for entry in _list(body.get("entry"), "entry"):
        for change in _list(_object(entry, "entry[]").get("changes"), "changes"):
            value = _object(_object(change, "changes[]").get("value"), "value")
            for status in _list(value.get("statuses"), "statuses"):
                events.append(_v3_status(channel_id, _object(status, "statuses[]")))
            events.extend(v3_events(channel_id, value))
    return [event for event in events if event is not None]


def _v3_status(channel_id: int, status: dict) -> ReceiptEvent | None:
    gupshup_id = provider_id(status.get("gs_id"), "statuses[].gs_id") or provider_id(
        status.get("gsId"), "statuses[].gsId"
    )
    errors = status.get("errors") if isinstance(status.get("errors"), list) else []
    error = errors[0] if errors and isinstance(errors[0], dict) else {}
    reason = error.get("title") or error.get("message")
    return _receipt(channel_id, gupshup_id, str(status.get("status") or ""), error.get("code"), reason)


def _receipt(channel_id: int, gupshup_id: str, event: str, code: object, reason: object) -> ReceiptEvent | None:
    status = EVENT_STATUS.get(event.lower())
    if status is None or not gupshup_id:
        log.info("Gupshup event %r for %r on channel %s ignored", event, gupshup_id, channel_id)
        return None
    return ReceiptEvent(
        channel_id=channel_id,
        provider_message_id=gupshup_id,
        state=status,
        error_code=str(code or ""),
        error_message=str(reason or ""),
    )


def _object(value: object, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{name} is not an object")
    return value


def _list(value: object, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{name} is not a list")
    return value
