"""Twilio's calls to us: message status callbacks and inbound messages, for twlo and twlowa channels.

Each channel has its own unguessable URLs (Channel.webhook_url), and every request must carry a
valid X-Twilio-Signature made with that channel's auth token: anything else gets 403 and changes
nothing. A signed form with a NUL or an unreadable field gets a JSON 400 naming it. What a signed
callback says is taken (providers.events.take: one INSERT) and answered at once; the receiving
worker applies it. Callbacks come more than once and out of order; the receipt book only moves
messages forward.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.encoding import escape_uri_path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from providers.events import DeliveryState, ReceiptEvent, take
from providers.models import Channel
from providers.twilio.inbound import inbound_event
from providers.twilio.signature import is_valid_signature
from providers.webhook_channels import (
    ChannelChanged,
    channel_for_webhook,
    forget,
    kept_channel_for_webhook,
    write_check,
)
from providers.webhook_input import BadInput, form_fields, our_message_id, provider_id, refuses_hostile_input

log = logging.getLogger(__name__)
Status = DeliveryState

TWILIO_PROVIDERS = ("twlo", "twlowa")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# Twilio's MessageStatus -> ours. "canceled" is a scheduled message Twilio never sent.
STATUSES = {
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
    "read": Status.READ,
    "canceled": Status.FAILED,
}
# Steps before "sent": the message is already at least "sending" on our side, nothing to record.
IN_FLIGHT = {"queued", "accepted", "scheduled", "sending"}
# Status callbacks carry only the code; the commonest ones in words, for staff.
ERROR_TEXT = {
    "21610": "The recipient has unsubscribed (replied STOP).",
    "30003": "Unreachable destination handset.",
    "30004": "Message blocked.",
    "30005": "Unknown destination handset.",
    "30006": "Landline or unreachable carrier.",
    "30007": "Filtered by the carrier.",
    "30008": "Unknown error.",
    "63016": "Outside the WhatsApp 24-hour session window: send a template.",
}

View = Callable[[HttpRequest, Channel], HttpResponse]


def twilio_webhook(kind: str) -> Callable[[View], Callable[..., HttpResponse]]:
    """Find the channel by its webhook token and check Twilio's signature before the view runs."""

    def decorate(view: View) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @require_POST
        @refuses_hostile_input
        @wraps(view)
        def wrapped(request: HttpRequest, token: str) -> HttpResponse:
            channel, unconfirmed = kept_channel_for_webhook(token, TWILIO_PROVIDERS)
            if unconfirmed:
                # The view's write checks the kept channel; a refusal or a change is decided afresh.
                with suppress(ChannelChanged):
                    response = answer(request, channel, quietly=True)
                    if response.status_code < 400:
                        return response
                forget(token)
                channel = channel_for_webhook(token, TWILIO_PROVIDERS)
            return answer(request, channel)

        def answer(request: HttpRequest, channel: Channel | None, quietly: bool = False) -> HttpResponse:
            # The path must be this channel's own (/webhooks/twlowa/... for a WhatsApp channel).
            if channel is None or not urlsplit(channel.webhook_url(kind)).path.endswith(request.path_info):
                return JsonResponse({"error": "No Twilio channel has this webhook address."}, status=404)
            if not signature_is_valid(request, channel):
                if not quietly:
                    log.warning("Twilio %s webhook for channel %s: missing or wrong signature", kind, channel.pk)
                return BadInput("X-Twilio-Signature", "missing or wrong.", status=403).response()
            form_fields(request)  # signed, but still text we must be able to store
            return view(request, channel)

        return wrapped

    return decorate


def signed_url(request: HttpRequest) -> str:
    """The URL Twilio called, rebuilt from our public base URL (a proxy may have changed the host)."""
    url = settings.PUBLIC_BASE_URL.rstrip("/") + escape_uri_path(request.path_info)
    query = request.META.get("QUERY_STRING", "")
    return f"{url}?{query}" if query else url


def signature_is_valid(request: HttpRequest, channel: Channel) -> bool:
    token = str((channel.credentials or {}).get("auth_token", ""))
    signature = request.META.get("HTTP_X_TWILIO_SIGNATURE", "")  # not request.headers: that copies every header
    return is_valid_signature(token, signed_url(request), dict(request.POST.lists()), signature)


@twilio_webhook("status")
def status_callback(request: HttpRequest, channel: Channel) -> HttpResponse:
    """A message's new status. Always 200 once signed: Twilio cannot fix what we do not know."""
    form = request.POST
    sid_field = "MessageSid" if form.get("MessageSid") else "SmsSid"
    sid = provider_id(form.get(sid_field), sid_field)
    twilio_status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    status = STATUSES.get(twilio_status)
    if status is None:
        if twilio_status not in IN_FLIGHT:
            log.info("Twilio status %r for %s on channel %s ignored", twilio_status, sid, channel.pk)
        return HttpResponse()
    message_id = our_message_id(request.GET.get("m", ""), "m")
    if not sid and message_id is None:
        log.warning("Twilio status callback without MessageSid on channel %s ignored", channel.pk)
        return HttpResponse()
    error_code, error_message = _error(twilio_status, form.get("ErrorCode", ""))
    take(
        [
            ReceiptEvent(
                channel_id=channel.pk,
                provider_message_id=sid,
                state=status,
                error_code=error_code,
                error_message=error_message,
                message_id=message_id,
                recipient=form.get("To", "").removeprefix("whatsapp:"),
                opt_out_reason="Twilio reported the recipient unsubscribed (21610)." if error_code == "21610" else "",
            )
        ],
        only_if=write_check(channel),
    )
    return HttpResponse()


@twilio_webhook("inbound")
def inbound_message(request: HttpRequest, channel: Channel) -> HttpResponse:
    """A message from a recipient: stored once (campaigns.conversations), its keyword acted on.

    A message we cannot store (no number, a text longer than any phone sends) is refused with a
    JSON 4xx naming the field; Twilio shows it in its debugger (error 11200) and does not retry.
    """
    take([inbound_event(channel.pk, request.POST)], only_if=write_check(channel))
    # Empty TwiML: no automatic reply (Twilio's Advanced Opt-Out answers STOP itself).
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


def _error(twilio_status: str, code: str) -> tuple[str, str]:
    if twilio_status == "canceled":
        return code or "canceled", "Twilio cancelled the scheduled message before sending it."
    if not code:
        return "", ""
    return code, ERROR_TEXT.get(code, f"Twilio error {code}.")
