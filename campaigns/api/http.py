"""The JSON envelope every API answer uses, and the one wrapper every API view goes through.

Whatever happens inside (bad input, a missing key, a bug), the caller gets
``{"status": "error", "errors": [{"msg": ...}]}`` with a fitting status code: never an HTML page,
never a traceback.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"


class ApiError(Exception):
    """Stop handling the request and answer with these messages."""

    def __init__(self, status: int, messages: list[str], headers: dict[str, str] | None = None):
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = messages
        self.headers = headers or {}

    def response(self) -> HttpResponse:
        return error_response(self.status, self.messages, self.headers)


def json_response(payload: dict, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    response = HttpResponse(body, status=status, content_type=JSON_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def success(data: dict, status: int = 200) -> HttpResponse:
    return json_response({"status": "success", "data": data}, status=status)


def error_response(status: int, messages: list[str], headers: dict[str, str] | None = None) -> HttpResponse:
    return json_response({"status": "error", "errors": [{"msg": m} for m in messages]}, status, headers)


Handler = Callable[..., HttpResponse]


def endpoint(*, authenticated: bool = True, **handlers: Handler) -> Callable[..., HttpResponse]:
    """One URL's view: pick the handler by HTTP method, check the key and its rate, answer JSON.

    Handlers of authenticated endpoints are called as ``handler(request, api_key, **url_kwargs)``.
    A handler named ANY answers every method. A handler's ``recipients_at_admission`` are taken
    from the key's daily quota with its rate (campaigns/api/auth.py), and given back here if the
    handler did not use them.
    """
    from campaigns.api.auth import admit
    from campaigns.api.quota import give_back_unused

    allowed = ", ".join(handlers)

    @csrf_exempt
    def view(request: HttpRequest, **kwargs) -> HttpResponse:
        try:
            handler = handlers.get(request.method or "") or handlers.get("ANY")
            if handler is None:
                message = f"Method {request.method} is not allowed here; use {allowed}."
                raise ApiError(405, [message], {"Allow": allowed})
            if not authenticated:
                return handler(request, **kwargs)
            api_key = admit(request, getattr(handler, "recipients_at_admission", 0))
            try:
                return handler(request, api_key, **kwargs)
            finally:
                give_back_unused(api_key)
        except ApiError as error:
            return error.response()
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("API request %s %s failed (reference %s)", request.method, request.path, reference)
            return error_response(500, [f"Something went wrong on our side (reference {reference}); please retry."])

    return view
