"""Delivery reports pushed by the sendbulk deployments that offer it.

The body is ``{"description", "messageid", "timeTaken", "timestamp"}`` (JSON, or form fields on
some deployments). The gateway does not sign it: the unguessable token in the URL
(/webhooks/sendbulk/<webhook_token>/dlr) is what keeps others out. Reports may come twice or
after polling already recorded them: record_receipt only moves a message forward.
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from providers.models import Channel
from providers.receipts import record_receipt
from providers.sendbulk.provider import SendbulkProvider, delivery_status

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def delivery_report(request: HttpRequest, token: str) -> JsonResponse:
    channel = Channel.objects.filter(webhook_token=token, provider=SendbulkProvider.code).only("pk").first()
    if channel is None:
        return JsonResponse({"error": "No sendbulk channel has this webhook address."}, status=404)
    report = _read(request)
    if report is None:
        return JsonResponse({"error": "body: expected a JSON object or form fields."}, status=400)
    provider_id = str(report.get("messageid") or report.get("messageId") or "").strip()
    if not provider_id:
        return JsonResponse({"error": "messageid: missing."}, status=400)
    description = str(report.get("description") or "")
    status = delivery_status(description)
    if status is None:
        log.info("sendbulk report %r for %s on channel %s: nothing final", description, provider_id, channel.pk)
        return JsonResponse({"status": "ok", "changed": False})
    changed = record_receipt(
        channel_id=channel.pk, provider_message_id=provider_id, status=status, error_message=description
    )
    return JsonResponse({"status": "ok", "changed": changed})


def _read(request: HttpRequest) -> dict | None:
    if request.content_type == "application/json" or request.body.lstrip()[:1] == b"{":
        try:
            body = json.loads(request.body)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
    return request.POST.dict() or None
