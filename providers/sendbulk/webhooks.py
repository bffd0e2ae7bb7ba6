"""Delivery reports pushed by the sendbulk deployments that offer it.

The body is ``{"description", "messageid", "timeTaken", "timestamp"}`` (JSON, or form fields on
some deployments). The gateway does not sign it: the unguessable token in the URL
(/webhooks/sendbulk/<webhook_token>/dlr) is what keeps others out (and, when the channel lists
them, the gateway's addresses: providers/callback_addresses.py), so bodies are read as hostile
(providers.webhook_input). Reports may come twice or after polling already recorded them: the
receipt book only moves a message forward.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from providers.callback_addresses import refused
from providers.events import ReceiptEvent, apply_receipt
from providers.sendbulk.provider import SendbulkProvider, delivery_status
from providers.webhook_channels import channel_for_webhook
from providers.webhook_input import BadInput, form_fields, json_body, provider_id, refuses_hostile_input

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
@refuses_hostile_input
def delivery_report(request: HttpRequest, token: str) -> JsonResponse:
    channel = channel_for_webhook(token, (SendbulkProvider.code,))
    if channel is None:
        return JsonResponse({"error": "No sendbulk channel has this webhook address."}, status=404)
    if refusal := refused(request, channel, "sendbulk"):
        return refusal
    report = _read(request)
    field = "messageid" if "messageid" in report else "messageId"
    provider_message_id = provider_id(report.get(field), field)
    if not provider_message_id:
        raise BadInput("messageid", "missing.")
    description = report.get("description") or ""
    if not isinstance(description, str):
        raise BadInput("description", f"expected text, not {type(description).__name__}.")
    status = delivery_status(description)
    if status is None:
        log.info("sendbulk report %r for %s on channel %s: nothing final", description, provider_message_id, channel.pk)
        return JsonResponse({"status": "ok", "changed": False})
    event = ReceiptEvent(channel.pk, provider_message_id, status, error_message=description)
    return JsonResponse({"status": "ok", "changed": apply_receipt(event)})


def _read(request: HttpRequest) -> dict:
    """The report as a dict: a JSON object, or form fields (some deployments post a form)."""
    if request.content_type == "application/json" or request.body.lstrip()[:1] == b"{":
        body = json_body(request)
        if not isinstance(body, dict):
            raise BadInput("body", "expected a JSON object or form fields.")
        return body
    fields = form_fields(request).dict()
    if not fields:
        raise BadInput("body", "expected a JSON object or form fields.")
    return fields
