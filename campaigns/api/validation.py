"""Reading API request bodies: one small function per field.

Every problem is collected rather than raised at the first, so a caller sees them all at once,
each naming the field and the value that was sent. A field given as null counts as absent.
Strings are checked with the very patterns the OpenAPI document publishes (patterns.py), so
that what the document allows the server accepts, and nothing else.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone

from campaigns.api import patterns
from campaigns.api.http import JSON_TYPE, ApiError
from campaigns.content.personalisation import render
from contacts.models import ContactList
from contacts.phones import normalise_phone
from providers.base import MAX_TEMPLATE_VARIABLES, OutgoingMessage, Provider, shown
from providers.models import Channel
from providers.registry import provider_choices, provider_for
from providers.webhook_channels import channel_with_key

MAX_TEXT = 4096  # WhatsApp's limit; Twilio SMS stops at 1,600 and its provider class says so
MAX_MEDIA = 10  # Twilio's limit of MediaUrl per message
MAX_VALUE = 1024  # one personalisation or template value
MAX_DB_ID = 2**63 - 1
MAX_URL = 2048
MAX_CALLBACK_URL = 500
MAX_ERRORS_SHOWN = 50
FORBIDDEN = 403
NOT_FOUND = 404
CONFLICT = 409
PROVIDER_CODES = [code for code, _ in provider_choices()]
# Compiled for other modules' fullmatch (the admin's template form); the API uses patterns.matches.
CONTENT_SID = re.compile(patterns.CONTENT_SID.strip("^$"))
PROVIDER_TEMPLATE_ID = re.compile(patterns.TEMPLATE_ID.strip("^$"))


def is_whole_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses."""
    return text.isascii() and text.isdigit()


class Problems:
    """The problems found in one request body, with the HTTP status they add up to: 400 if any is
    a malformed field, else 403 if the key may not do something asked (its scope), else 404 if
    something named is not there, else 409 (a state, such as a switched-off channel or an
    opted-out number, that the request cannot change)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.statuses: set[int] = set()

    def add(self, message: str, status: int = 400) -> None:
        self.messages.append(message)
        self.statuses.add(status)

    def __bool__(self) -> bool:
        return bool(self.messages)

    @property
    def malformed(self) -> bool:
        return 400 in self.statuses

    def raise_if_any(self) -> None:
        if not self.messages:
            return
        status = next(code for code in (400, FORBIDDEN, NOT_FOUND, CONFLICT) if code in self.statuses)
        shown_messages = self.messages[:MAX_ERRORS_SHOWN]
        if len(self.messages) > MAX_ERRORS_SHOWN:
            shown_messages.append(f"... and {len(self.messages) - MAX_ERRORS_SHOWN} more problems like these.")
        raise ApiError(status, shown_messages)


# --- The body ---------------------------------------------------------------------------------


def read_json_body(request: HttpRequest, limit: int) -> dict[str, Any]:
    """The request's JSON object, or a 413 / 415 / 400 saying what is wrong with it."""
    data = parse_json(read_body(request, limit))
    if not isinstance(data, dict):
        raise ApiError(400, [f"The body must be a JSON object, not {json_type(data)}."])
    refuse_hostile_strings(data)
    return data


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The body's bytes, read once (the Idempotency-Key check reads them before the view does)."""
    if hasattr(request, "api_body"):
        return request.api_body
    content_type = request.content_type or ""
    if content_type != JSON_TYPE:
        raise ApiError(415, [f"Content-Type: {shown(content_type)} is not supported; send {JSON_TYPE}."])
    charset = (request.content_params or {}).get("charset", "utf-8")
    if charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ApiError(415, [f"Content-Type: charset {shown(charset)} is not supported; JSON is sent as UTF-8."])
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if is_whole_number(declared) and int(declared) > limit:
        raise ApiError(413, [f"The body is {int(declared):,} bytes; at most {limit:,} are accepted."])
    # Read the stream ourselves: request.body would apply Django's smaller upload limit.
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, [f"The body is more than {limit:,} bytes; at most {limit:,} are accepted."])
    request.api_body = raw
    return raw


def parse_json(raw: bytes) -> object:
    """UTF-8 JSON (RFC 8259), nested at most MAX_DEPTH deep; anything else is a 400 saying where."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            400, [f"The body is not UTF-8: byte {error.start} ({raw[error.start]:#04x}) is invalid."]
        ) from None
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ApiError(400, [f"The body is nested too deeply; at most {MAX_DEPTH} levels are accepted."]) from None
    except ValueError as error:
        raise ApiError(400, [f"The body is not valid JSON: {error}."]) from None


MAX_DEPTH = 32  # the deepest body is a Gupshup template: body > template > variables > Body > "1"
HOSTILE = re.compile("[\x00\ud800-\udfff]")


def refuse_hostile_strings(data: object) -> None:
    """Refuse nesting deeper than MAX_DEPTH, NUL (PostgreSQL refuses it in text) and lone
    surrogates (no text encoding holds one) in any key or value, each named by its path.

    Iterative, so that no depth the parser let through can exhaust the stack here.
    """
    problems = Problems()
    stack: list[tuple[str, object, int]] = [("", data, 0)]
    while stack:
        where, value, depth = stack.pop()
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            raise ApiError(400, [f"{where[:200]}: nested more than {MAX_DEPTH} levels deep; no field takes that."])
        if isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else str(key)
                if HOSTILE.search(key):
                    problems.add(f"{shown(path)}: a field name {hostile_reason(key)}")
                    continue
                stack.append((path, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str) and HOSTILE.search(value):
            problems.add(f"{where}: {shown(value)} {hostile_reason(value)}")
    problems.messages.sort()
    problems.raise_if_any()


def hostile_reason(text: str) -> str:
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which no field accepts."
    return "contains a lone UTF-16 surrogate, which is not a character; send the whole character."


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def unknown_fields(data: dict, known: set[str], problems: Problems, where: str = "") -> None:
    for name in data:
        if name not in known:
            listed = ", ".join(sorted(known))
            problems.add(f"{where}{name}: unknown field (known fields: {listed}).")


# --- Scalars ----------------------------------------------------------------------------------


def text_field(data: dict, name: str, problems: Problems, max_length: int = MAX_TEXT) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.add(f"{name}: {shown(value)} is {json_type(value)}; expected a string.")
        return ""
    if len(value) > max_length:
        problems.add(f"{name}: {len(value):,} characters is too long (at most {max_length:,}).")
        return ""
    return value  # NUL and lone surrogates were refused with the body (refuse_hostile_strings)


def bool_field(data: dict, name: str, problems: Problems, default: bool = False) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        problems.add(f"{name}: {shown(value)} is {json_type(value)}; expected true or false.")
        return default
    return value


def id_field(data: dict, name: str, problems: Problems, allow_zero: bool = False) -> int | None:
    """A whole number that names a row; a string of digits too, as many clients send ids that way."""
    value = data.get(name)
    if value is None:
        return None
    number = value
    if isinstance(value, str) and (patterns.matches(patterns.ROW_ID, value) or (allow_zero and value == "0")):
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)  # JSON Schema's integer: 20323.0 is one
    if isinstance(number, bool) or not isinstance(number, int):
        problems.add(f"{name}: {shown(value)} is {json_type(value)}; expected a whole number.")
        return None
    if not (0 if allow_zero else 1) <= number <= MAX_DB_ID:
        problems.add(f"{name}: {shown(value)} is out of range.")
        return None
    return number


def phone_field(value: object, name: str, problems: Problems) -> str:
    """A recipient's number as E.164. Not in E.164's shape: 400; in it, but not a number of its
    country's numbering plan: 404 (no such number)."""
    if value is None:
        problems.add(f"{name}: required; give the recipient's number in E.164, e.g. +14155550123.")
        return ""
    if not isinstance(value, str):
        problems.add(f'{name}: {shown(value)} is {json_type(value)}; send the number as a string, "+14155550123".')
        return ""
    if not patterns.matches(patterns.PHONE_NUMBER, value):
        problems.add(
            f"{name}: {shown(value)} is not a phone number in E.164 (country code first, digits only, "
            "+ optional), e.g. +14155550123."
        )
        return ""
    try:
        return normalise_phone(value.strip(), field=name)
    except ValidationError:
        problems.add(f"{name}: {shown(value)} is not a valid phone number in its country.", status=NOT_FOUND)
        return ""


def url_value(value: object, name: str, problems: Problems) -> str:
    if not isinstance(value, str):
        problems.add(f"{name}: {shown(value)} is {json_type(value)}; expected a URL.")
        return ""
    if len(value) > MAX_URL or not patterns.matches(patterns.URL, value):
        problems.add(f"{name}: {shown(value)} is not an http(s) URL with a host name (at most {MAX_URL} characters).")
        return ""
    return value.strip()  # a JSON Schema pattern's $ lets a final newline through: drop it


def status_callback_field(data: dict, problems: Problems) -> str:
    """status_callback: an http(s) URL on the public internet where this request's events go
    (campaigns/events/); "" when absent."""
    from campaigns.events.destinations import url_problem

    value = data.get("status_callback")
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        problems.add(f"status_callback: {shown(value)} is {json_type(value)}; expected a URL.")
        return ""
    if len(value) > MAX_CALLBACK_URL or not patterns.matches(patterns.CALLBACK_URL, value):
        problems.add(
            f"status_callback: {shown(value)} is not an http(s) URL with a host name or IPv4 address "
            f"(at most {MAX_CALLBACK_URL} characters)."
        )
        return ""
    problem = url_problem(value)
    if problem:  # well formed, but not a place we send to
        problems.add(f"status_callback: {shown(value)} is not accepted: {problem}.", FORBIDDEN)
        return ""
    return value


def media_urls(data: dict, problems: Problems) -> list[tuple[str, str]]:
    """image_url, image_urls, video_url and file_url, in that order, as (field, URL) pairs."""
    media: list[tuple[str, str]] = []
    for name in ("image_url", "video_url", "file_url"):
        if data.get(name) is not None:
            media.append((name, url_value(data[name], name, problems)))
    images = data.get("image_urls")
    if images is not None:
        if not isinstance(images, list):
            problems.add(f"image_urls: {shown(images)} is {json_type(images)}; expected an array of URLs.")
        else:
            listed = [
                (f"image_urls[{i}]", url_value(url, f"image_urls[{i}]", problems)) for i, url in enumerate(images)
            ]
            media[1:1] = listed[:MAX_MEDIA]
    if len(media) > MAX_MEDIA or (isinstance(images, list) and len(images) > MAX_MEDIA):
        problems.add(f"image_urls: at most {MAX_MEDIA} media URLs may go with one message.")
    return [(name, url) for name, url in media if url]


def schedule_field(data: dict, problems: Problems, name: str = "schedule") -> datetime | None:
    """A future time to send at; None for absent, empty or past (send now)."""
    value = data.get(name)
    if value is None or value == "":
        return None
    when = parse_time(value, name, problems)
    return when if when is not None and when > timezone.now() else None


RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def parse_time(value: object, name: str, problems: Problems) -> datetime | None:
    """An RFC 3339 time (ISO 8601 with its UTC offset, as the document's date-time), in UTC."""
    example = "2006-01-02T15:04:05-04:00"
    if not isinstance(value, str):
        problems.add(f"{name}: {shown(value)} is {json_type(value)}; expected a time such as {example}.")
        return None
    if not RFC3339.search(value):
        if _without_offset(value):
            problems.add(f"{name}: {shown(value)} has no UTC offset; add one, e.g. {example}.")
        else:
            problems.add(f"{name}: {shown(value)} is not an ISO 8601 time such as {example}.")
        return None
    try:
        when = datetime.fromisoformat(value.strip().upper())
    except ValueError:
        problems.add(f"{name}: {shown(value)} is not a time that exists (e.g. the 31st of a 30-day month).")
        return None
    try:
        return when.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset: before any message or after every one
        return datetime.min.replace(tzinfo=UTC) if when.year == 1 else datetime.max.replace(tzinfo=UTC)


def _without_offset(value: str) -> bool:
    try:
        return datetime.fromisoformat(value.strip()).tzinfo is None
    except ValueError:
        return False


# --- Things in the database -------------------------------------------------------------------


def channel_field(data: dict, problems: Problems, generation: bytes | None = None) -> Channel | None:
    """The channel of that key and of the named provider; another provider's channel is not found.

    ``generation``: the channels' generation read for this request, so that the channel may come
    from what this process kept (providers/webhook_channels.py); None reads the database."""
    value = data.get("channel_key")
    if value is None:
        problems.add("channel_key: required; copy it from the channel's page in the admin.")
        return None
    if not isinstance(value, str) or not patterns.matches(patterns.CHANNEL_KEY, value):
        problems.add(f"channel_key: {shown(value)} is not a channel key (letters, digits, - and _).")
        return None
    channel = channel_with_key(value.strip(), generation)
    provider = data.get("provider")
    if channel is None or (provider in PROVIDER_CODES and channel.provider != provider):
        which = f"{provider} channel" if provider in PROVIDER_CODES else "channel"
        problems.add(f"channel_key: {shown(value)} is not a known {which}.", status=NOT_FOUND)
        return None
    if not channel.is_active:
        problems.add(f"channel_key: the channel {channel.name!r} is switched off.", status=CONFLICT)
    return channel


def provider_field(data: dict, channel: Channel | None, problems: Problems) -> str:
    value = data.get("provider")
    if value is None:
        problems.add(f"provider: required; one of {', '.join(PROVIDER_CODES)}.")
        return ""
    if value not in PROVIDER_CODES:
        problems.add(f"provider: {shown(value)} is not a provider; use one of {', '.join(PROVIDER_CODES)}.")
        return ""
    return value


# --- Templates --------------------------------------------------------------------------------


def template_field(data: dict, provider: str, problems: Problems) -> dict | None:
    """A provider template in that provider's shape (see TEMPLATE_SHAPES)."""
    value = data.get("template")
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(f"template: {shown(value)} is {json_type(value)}; expected an object with id and variables.")
        return None
    if not provider:
        return None  # the provider's own problem is already listed
    check = TEMPLATE_SHAPES.get(provider)
    if check is None:
        problems.add(f"template: the {provider!r} provider does not take templates; send text instead.")
        return None
    unknown_fields(value, {"id", "variables"}, problems, where="template.")
    variables = value.get("variables")
    if variables is not None and not isinstance(variables, dict):
        problems.add(f"template.variables: {shown(variables)} is {json_type(variables)}; expected an object.")
        variables = None
    return check(value.get("id"), variables or {}, problems)


def twilio_template(template_id: object, variables: dict, problems: Problems) -> dict | None:
    """Twilio Content API: {"id": "HX + 32 hex", "variables": {"1": "John"}}."""
    if not isinstance(template_id, str) or not patterns.matches(patterns.CONTENT_SID, template_id):
        problems.add(f"template.id: {shown(template_id)} is not a Twilio Content SID (HX followed by 32 hex digits).")
        return None
    return {"id": template_id.strip(), "variables": _values(variables, "template.variables", problems)}


GUPSHUP_SECTIONS = ("Header", "Body", "Buttons")
# WhatsApp's header text takes one variable and a template at most ten buttons; the body the rest
# of the 100 variables a template may have, so that each part's limit is its own (and documented).
GUPSHUP_SECTION_LIMITS = {"Header": 1, "Body": MAX_TEMPLATE_VARIABLES - 11, "Buttons": 10}


def gupshup_template(template_id: object, variables: dict, problems: Problems) -> dict | None:
    """Gupshup: {"id": ..., "variables": {"MEDIA_URL", "Header": {"1": ..}, "Body": {..}, "Buttons": {..}}}."""
    ok = True
    if not isinstance(template_id, str) or not patterns.matches(patterns.TEMPLATE_ID, template_id):
        problems.add(f"template.id: {shown(template_id)} is not a Gupshup template id.")
        ok = False
    unknown_fields(variables, {"MEDIA_URL", *GUPSHUP_SECTIONS}, problems, where="template.variables.")
    cleaned: dict[str, object] = {}
    if variables.get("MEDIA_URL") is not None:
        cleaned["MEDIA_URL"] = url_value(variables["MEDIA_URL"], "template.variables.MEDIA_URL", problems)
    for section in GUPSHUP_SECTIONS:
        values = variables.get(section)
        if values is None:
            continue
        where = f"template.variables.{section}"
        if not isinstance(values, dict):
            problems.add(f'{where}: {shown(values)} is {json_type(values)}; expected an object such as {{"1": "..."}}.')
            continue
        for key in values:
            if not patterns.matches(patterns.POSITION, key):
                problems.add(f'{where}: {shown(key)} is not a position such as "1".')
        if len(values) > GUPSHUP_SECTION_LIMITS[section]:
            limit = GUPSHUP_SECTION_LIMITS[section]
            problems.add(f"{where}: {len(values)} variables; a template's {section} takes at most {limit}.")
        cleaned[section] = _values(values, where, problems)
    return {"id": template_id.strip(), "variables": cleaned} if ok else None


def any_template(template_id: object, variables: dict, problems: Problems) -> dict | None:
    """For the sandbox: any id, flat variables."""
    if not isinstance(template_id, str) or not patterns.matches(patterns.TEMPLATE_ID, template_id):
        problems.add(f"template.id: {shown(template_id)} is not a template id.")
        return None
    return {"id": template_id.strip(), "variables": _values(variables, "template.variables", problems)}


def _values(values: dict, where: str, problems: Problems) -> dict[str, str]:
    """Template variables are strings; numbers are accepted and turned into text."""
    cleaned: dict[str, str] = {}
    for key, value in values.items():
        text = scalar_text(value)
        if text is None or len(text) > MAX_VALUE:
            problems.add(f"{where}.{key}: {shown(value)} must be a string of at most {MAX_VALUE} characters.")
            continue
        cleaned[key] = text
    return cleaned


def scalar_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    return None


# Which template shape each provider takes. The provider classes own sending; the API owns
# telling the caller, before anything is queued, that a template cannot be right.
TEMPLATE_SHAPES = {
    "twlo": twilio_template,
    "twlowa": twilio_template,
    "gswa": gupshup_template,
    "sandbox": any_template,
}


# --- Contact saving and personalisation -------------------------------------------------------


@dataclass
class ContactSaving:
    save: bool = False
    contact_list: ContactList | None = None
    extra_fields: dict[str, object] = field(default_factory=dict)


def contact_saving_field(data: dict, problems: Problems) -> ContactSaving:
    value = data.get("contact_saving")
    if value is None:
        return ContactSaving()
    if not isinstance(value, dict):
        problems.add(f"contact_saving: {shown(value)} is {json_type(value)}; expected an object.")
        return ContactSaving()
    unknown_fields(value, {"save", "list_id", "extra_fields"}, problems, where="contact_saving.")
    prefixed = {f"contact_saving.{k}": v for k, v in value.items()}
    saving = ContactSaving(save=bool_field(prefixed, "contact_saving.save", problems))
    list_id = id_field(prefixed, "contact_saving.list_id", problems, allow_zero=True)
    if list_id:
        saving.contact_list = ContactList.objects.filter(pk=list_id).first()
        if saving.contact_list is None:
            problems.add(f"contact_saving.list_id: {list_id} is not a contact list.", status=NOT_FOUND)
    extra = value.get("extra_fields")
    if extra is not None:
        saving.extra_fields = variables_field(extra, "contact_saving.extra_fields", problems)
    return saving


def variables_field(value: object, where: str, problems: Problems) -> dict[str, object]:
    """Named values for {{placeholders}}: names a placeholder can use, scalar values."""
    if not isinstance(value, dict):
        problems.add(f"{where}: {shown(value)} is {json_type(value)}; expected an object.")
        return {}
    cleaned: dict[str, object] = {}
    for name, item in value.items():
        if not patterns.matches(patterns.PLACEHOLDER_NAME, name):
            problems.add(f"{where}: {shown(name)} cannot be a {{{{placeholder}}}} name (letters, digits and _).")
        elif item is None:
            continue
        elif scalar_text(item) is None or (isinstance(item, str) and len(item) > MAX_VALUE):
            problems.add(f"{where}.{name}: {shown(item)} must be text or a number (at most {MAX_VALUE} characters).")
        else:
            cleaned[name] = item
    return cleaned


# --- What the channel's provider would refuse ---------------------------------------------------


def provider_problems(
    channel: Channel, text: str, media: list[tuple[str, str]], template: dict | None, context: dict[str, object]
) -> list[str]:
    """The channel's provider class judges the message as this recipient would get it (placeholders
    filled), by the same rules the send pipeline applies; each problem in the API's field names."""
    rendered = (render(text, context), render_template(template, context))
    return rendered_message_problems(provider_for(channel), str(context.get("phone", "")), rendered, media)


def rendered_message_problems(
    provider: Provider, to: str, rendered: tuple[str, dict | None], media: list[tuple[str, str]]
) -> list[str]:
    """provider_problems of a message whose text and template are already rendered (a bulk request
    renders each recipient's once, and asks one provider object about all of them)."""
    text, template = rendered
    outgoing = OutgoingMessage(id=0, to=to, text=text, media_urls=tuple(url for _, url in media), template=template)
    names = [name for name, _ in media]
    return [f"{api_field(problem.field, names)}: {problem.message}" for problem in provider.problems(outgoing)]


def render_template(template: dict | None, context: dict[str, object]) -> dict | None:
    if not template or not template.get("variables"):
        return template
    return {**template, "variables": _rendered(template["variables"], context)}


def _rendered(values: object, context: dict[str, object]) -> object:
    if isinstance(values, dict):
        return {key: _rendered(value, context) for key, value in values.items()}
    return render(values, context) if isinstance(values, str) else values


MEDIA_POSITION = re.compile(r"media_urls\[(\d+)\]")


def api_field(field: str, media_names: list[str]) -> str:
    """A provider's field name ("media_urls[1]") as the API caller wrote it ("image_urls[0]")."""
    one = MEDIA_POSITION.fullmatch(field)
    if one and int(one.group(1)) < len(media_names):
        return media_names[int(one.group(1))]
    if field == "media_urls":
        return ", ".join(media_names) or "image_url"
    return field


def personal_context(to: str, values: dict[str, object]) -> dict[str, object]:
    """The placeholder values the pipeline will have for this recipient, as far as the request says."""
    context: dict[str, object] = {"phone": to, **values}
    name = str(context.get("name") or "")
    context.setdefault("first_name", name.split(" ", maxsplit=1)[0] if name else "")
    return context
