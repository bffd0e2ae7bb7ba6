"""Reading what providers post to our webhooks, refusing hostile input before it reaches the database.

Anyone who learns a webhook address can post anything to it. Every body is size-checked before
it is read; JSON is parsed with a nesting limit; every text (keys and values, form fields and
JSON strings alike) is checked for NUL characters and lone surrogates, which PostgreSQL and
UTF-8 cannot store. A refusal is a JSON answer naming the field, never a 500 or an HTML page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import wraps
from urllib.parse import unquote_plus, unquote_to_bytes

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict

MAX_BODY_BYTES = 256 * 1024  # provider callbacks are a few kB; a batch of Gupshup events stays far below
MAX_DEPTH = 16  # Meta's deepest shape (entry[].changes[].value.statuses[].errors[]) is 8 levels
MAX_ID_CHARS = 100  # OutboundMessage.provider_message_id
# A reply's text: WhatsApp's own limit is 4,096 characters and Twilio's SMS 1,600, so anything longer
# did not come from a phone. A media URL: providers' signed URLs run to a few hundred characters.
MAX_TEXT_CHARS = 4096
MAX_MEDIA_URL_CHARS = 2000
MAX_MEDIA_ITEMS = 10  # Twilio's NumMedia at most
OUR_ID = re.compile(r"[0-9]{1,18}")  # our message id in a callback URL (?m=): a bigint, ASCII digits only


class BadInput(Exception):
    """A webhook body we refuse; ``field`` names where the problem is."""

    def __init__(self, field: str, problem: str, status: int = 400):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.status = status

    def response(self) -> JsonResponse:
        return JsonResponse({"error": str(self), "field": self.field}, status=self.status)


def refuses_hostile_input(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer BadInput (and Django's own body limits) as JSON naming the field."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            check_size(request)
            check_form_encoding(request)
            return view(request, *args, **kwargs)
        except BadInput as error:
            return error.response()
        except RequestDataTooBig:
            return BadInput("body", f"more than the {MAX_BODY_BYTES:,} bytes a webhook takes.", 413).response()
        except TooManyFieldsSent:
            return BadInput("body", "too many form fields.").response()

    return guarded


def check_size(request: HttpRequest) -> None:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isascii() or not declared.isdigit():
        raise BadInput("Content-Length", f"{declared[:20]!r} is not a number of bytes.")
    if int(declared) > MAX_BODY_BYTES:
        raise BadInput("body", f"{int(declared):,} bytes is more than the {MAX_BODY_BYTES:,} a webhook takes.", 413)


def json_body(request: HttpRequest) -> object:
    """The body as JSON, checked: any encoding JSON allows, nested at most MAX_DEPTH, clean text."""
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise BadInput("body", f"{len(body):,} bytes is more than the {MAX_BODY_BYTES:,} a webhook takes.", 413)
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadInput("body", f"JSON nested deeper than {MAX_DEPTH} levels.") from None
    except UnicodeDecodeError:
        raise BadInput("body", "not UTF-8 (or UTF-16/32) text.") from None
    except ValueError as error:
        raise BadInput("body", f"not JSON ({error}).") from None
    check_tree(data)
    return data


def form_fields(request: HttpRequest) -> QueryDict:
    """The posted form, every name and value checked."""
    form = request.POST
    for name, values in form.lists():
        clean_text(name, "form field name")
        for value in values:
            clean_text(value, name)
    return form


def check_form_encoding(request: HttpRequest) -> None:
    """A urlencoded form must be UTF-8 (what Twilio sends): Django refuses another charset with an
    HTML page, and quietly turns bytes that are not UTF-8 into U+FFFD, text nobody wrote."""
    if request.content_type != "application/x-www-form-urlencoded":
        return
    charset = (request.content_params or {}).get("charset", "utf-8").strip().lower()
    if charset != "utf-8":  # what Django reads such a form in, and nothing else (RFC 1866)
        raise BadInput("Content-Type", f"charset {shown(charset)}: a webhook form must be UTF-8.", 415)
    if _is_utf8_form(request.body):
        return
    for pair in request.body.split(b"&"):  # which field is not: the answer names it
        name, _, value = pair.partition(b"=")
        readable_name = unquote_plus(name.decode("ascii", "replace"), errors="replace")
        for part, field in ((name, "form field name"), (value, readable_name)):
            try:
                part.decode("ascii")
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(field, "not UTF-8 text (percent-encoded bytes of another encoding).") from None


def _is_utf8_form(body: bytes) -> bool:
    """Every name and value of the form is percent-encoded UTF-8, checked on the whole body at once:
    "&" and "=" are ASCII, which never sits inside a UTF-8 character nor a %XX escape, so the
    whole decodes exactly when each part does."""
    try:
        body.decode("ascii")
        unquote_to_bytes(body.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_tree(data: object) -> None:
    """Walk parsed JSON without recursion: nesting depth and every key and string."""
    stack: list[tuple[object, str, int]] = [(data, "body", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            clean_text(value, path)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise BadInput(path, f"nested deeper than {MAX_DEPTH} levels.")
        if isinstance(value, dict):
            for key, item in value.items():
                clean_text(key, f"{path} key")
                stack.append((item, f"{path}.{key}" if path != "body" else key, depth + 1))
        else:
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))


def clean_text(value: str, field: str) -> str:
    if "\x00" in value:
        raise BadInput(field, f"{shown(value)} contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(field, f"{shown(value)} contains a lone surrogate (not valid Unicode text).") from None
    return value


def provider_id(value: object, field: str) -> str:
    """A provider's message id: text of at most MAX_ID_CHARS characters ('' when absent)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadInput(field, f"expected a message id, not {type(value).__name__}.")
    text = clean_text(str(value), field).strip()
    if len(text) > MAX_ID_CHARS:
        raise BadInput(field, f"{shown(text)} is longer than the {MAX_ID_CHARS} characters a message id has.")
    return text


def our_message_id(raw: str, field: str) -> int | None:
    """Our message id echoed in a callback URL; None when absent."""
    if not raw:
        return None
    if not OUR_ID.fullmatch(raw):
        raise BadInput(field, f"{shown(raw)} is not a message id (digits 0-9 only).")
    return int(raw)


def shown(value: str) -> str:
    """The value as it may be shown back: repr (NULs and surrogates escaped), at most 60 characters."""
    return repr(value[:60]) + ("..." if len(value) > 60 else "")
