"""Delivery reports pushed by the sendbulk deployments that offer it.

The body is ``{"description", "messageid", "timeTaken", "timestamp"}`` (JSON, or form fields on
some deployments), or a JSON list of such reports. The gateway does not sign it: the unguessable
token in the URL (/webhooks/sendbulk/<webhook_token>/dlr) is what keeps others out (and, when the
channel lists them, the gateway's addresses: providers/callback_addresses.py), so bodies are read as
hostile (providers.webhook_input). Every report is read before any is kept; they are then taken in
one INSERT (providers.events.take) and applied by the receiving worker. Reports may come twice or
after polling already recorded them: the receipt book only moves a message forward.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from providers.callback_addresses import refused
from providers.events import ReceiptEvent, take
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
    reports = _read(request)
    events = [_event(channel.pk, report, index, len(reports)) for index, report in enumerate(reports)]
    events = [event for event in events if event is not None]
    # "taken": how many reports the worker will apply (replays included: it sorts them out).
    return JsonResponse({"status": "ok", "taken": take(events)})


def _event(channel_id: int, report: object, index: int, count: int) -> ReceiptEvent | None:
    """The receipt a report makes, or None when it says nothing final yet."""
    where = f"body[{index}]." if count > 1 else ""
    if not isinstance(report, dict):
        raise BadInput(f"body[{index}]", "expected a delivery report object.")
    field = "messageid" if "messageid" in report else "messageId"
    provider_message_id = provider_id(report.get(field), where + field)
    if not provider_message_id:
        raise BadInput(where + "messageid", "missing.")
    description = report.get("description") or ""
    if not isinstance(description, str):
        raise BadInput(where + "description", f"expected text, not {type(description).__name__}.")
    status = delivery_status(description)
    if status is None:
        log.info("sendbulk report %r for %s on channel %s: nothing final", description, provider_message_id, channel_id)
        return None
    return ReceiptEvent(channel_id, provider_message_id, status, error_message=description)


def _read(request: HttpRequest) -> list:
    """The reports: a JSON object, a JSON list of them, or form fields (some deployments post a form)."""
    if request.content_type == "application/json" or request.body.lstrip()[:1] in (b"{", b"["):
        body = json_body(request)
        if isinstance(body, list) and body:
            return body
        if not isinstance(body, dict):
            raise BadInput("body", "expected a JSON object, a list of them, or form fields.")
        return [body]
    fields = form_fields(request).dict()
    if not fields:
        raise BadInput("body", "expected a JSON object, a list of them, or form fields.")
    return [fields]
