"""The API described as an OpenAPI 3.0 document, served at /api/openapi.json and rendered at /api/docs.

Written by hand next to the code it describes; tests/test_api_schema.py runs schemathesis against
the running app so that the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from functools import cache
from itertools import combinations

from django.conf import settings

from campaigns.api import patterns
from campaigns.api.bulk import MAX_RECIPIENTS
from campaigns.api.validation import (
    GUPSHUP_SECTION_LIMITS,
    GUPSHUP_SECTIONS,
    MAX_CALLBACK_URL,
    MAX_DB_ID,
    MAX_URL,
    MAX_VALUE,
)
from campaigns.models import Campaign, OutboundMessage
from providers.base import MAX_TEMPLATE_VARIABLES

CONTENT_SID_EXAMPLE = "HXb5b62575e6e4ff6129ad7c8efe1f983e"
# The examples name this channel key: a server seeded with a sandbox channel of that key (as the
# outside schemathesis run in tests/ does) answers them for real.
CHANNEL_KEY_EXAMPLE = "CHANNEL_KEY"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """The schema, or null (which the server reads as absent)."""
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def success(data: dict, example: dict | None = None) -> dict:
    """A success answer: {"status": "success", "data": <data>}."""
    answer = {
        "type": "object",
        "required": ["status", "data"],
        "properties": {"status": {"type": "string", "enum": ["success"]}, "data": data},
    }
    if example is not None:
        answer["example"] = {"status": "success", "data": example}
    return answer


def text(max_length: int, **extra) -> dict:
    return {"type": "string", "maxLength": max_length, "pattern": patterns.NO_NUL, **extra}


STRING = {"type": "string"}
URL = {
    "type": "string",
    "maxLength": MAX_URL,
    "pattern": patterns.URL,
    "description": "An http(s) URL with a host name that the provider can fetch.",
    "example": "https://example.com/picture.jpg",
}
TIME = {"type": "string", "format": "date-time"}
VALUE = {"anyOf": [text(MAX_VALUE), {"type": "number"}, {"type": "boolean"}]}
ROW_ID = {
    "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_DB_ID}, {"type": "string", "pattern": patterns.ROW_ID}]
}
USER_ID = (
    "The team member shown as the sender; absent: API. A key may name only its owner (403 for any other "
    "id, whether or not it exists); an administrator's key may name any active staff user (404, alike for "
    "unknown and deactivated ids)."
)
STATUS_CALLBACK = {
    "anyOf": [
        {
            "type": "string",
            "maxLength": MAX_CALLBACK_URL,
            "pattern": patterns.CALLBACK_URL,
            "example": "https://example.com/hooks/messages",
        },
        {"type": "string", "enum": [""]},
        {"type": "null"},
    ],
    "description": "An http(s) URL that gets this request's events as JSON POSTs, as Twilio's StatusCallback: "
    "message.sent, message.delivered, message.failed, message.undelivered, message.read (and, for a bulk job, "
    "bulk_job.completed, whose data.state is completed or cancelled). A message cancelled before it left is "
    "told as message.failed with data.status and data.error_code cancelled (data.message_id is null for a "
    "bulk job cancelled before its messages were made; data.to says whose it was). "
    "Each body is {id, type, timestamp, data}, signed as Standard Webhooks says "
    "(webhook-id, webhook-timestamp, webhook-signature) with the account's status callback secret (an "
    "administrator makes it under Webhook endpoints → Status callbacks). Delivered at least once, retried for "
    "up to 24 hours: dedupe on webhook-id. An address that is (or resolves to) a loopback, private or reserved "
    "one is refused with a 403.",
}
SCHEDULE = {
    "anyOf": [TIME, {"type": "string", "enum": [""]}, {"type": "null"}],
    "description": "RFC 3339 / ISO 8601 with its UTC offset, e.g. 2030-01-02T15:04:05-04:00. Future: "
    "scheduled; past, empty or absent: now.",
    "example": "2030-01-02T15:04:05-04:00",
}
MEDIA_FIELDS = ("image_url", "video_url", "file_url")


def named_values(description: str) -> dict:
    """An object of {{placeholder}} values: names a placeholder can use, text or numbers (null: absent)."""
    return {
        "type": "object",
        "propertyNames": {"pattern": patterns.PLACEHOLDER_NAME},
        "additionalProperties": nullable(VALUE),
        "description": description,
    }


# --- Templates: one shape per provider ----------------------------------------------------------


def flat_template(description: str, id_pattern: str, example: dict | None = None) -> dict:
    """A template: an id, and variables by name or number ({"1": "John"}) with one value each."""
    schema = {
        "type": "object",
        "description": description,
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "pattern": id_pattern},
            "variables": nullable(
                {
                    "type": "object",
                    "maxProperties": MAX_TEMPLATE_VARIABLES,
                    "propertyNames": {"pattern": patterns.NO_NUL},
                    "additionalProperties": VALUE,
                }
            ),
        },
        "additionalProperties": False,
    }
    return schema | ({"example": example} if example else {})


TEMPLATES: dict[str, dict] = {
    "TwilioTemplate": flat_template(
        "A Twilio Content template: id is its Content SID (HX + 32 hex digits); variables "
        f'{{"1": "John"}}, at most {MAX_TEMPLATE_VARIABLES}. Values may hold {{{{placeholders}}}}.',
        patterns.CONTENT_SID,
        example={"id": CONTENT_SID_EXAMPLE, "variables": {"1": "John"}},
    ),
    "GupshupTemplate": {
        "type": "object",
        "description": 'A Gupshup template: its id, variables {"MEDIA_URL": url, "Header": {"1": ..}, '
        f'"Body": {{"1": ..}}, "Buttons": {{"1": ..}}}}: at most {MAX_TEMPLATE_VARIABLES} values in all '
        f"(Header {GUPSHUP_SECTION_LIMITS['Header']}, Body {GUPSHUP_SECTION_LIMITS['Body']}, "
        f"Buttons {GUPSHUP_SECTION_LIMITS['Buttons']}).",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "pattern": patterns.TEMPLATE_ID},
            "variables": nullable(
                {
                    "type": "object",
                    "properties": {
                        "MEDIA_URL": nullable(URL),
                        **{
                            section: nullable(
                                {
                                    "type": "object",
                                    "maxProperties": GUPSHUP_SECTION_LIMITS[section],
                                    "propertyNames": {"pattern": patterns.POSITION},
                                    "additionalProperties": VALUE,
                                }
                            )
                            for section in GUPSHUP_SECTIONS
                        },
                    },
                    "additionalProperties": False,
                }
            ),
        },
        "additionalProperties": False,
        "example": {"id": "6f2b9c3e-3f0a-4b8e-9d1c-2a7e5b4c8d90", "variables": {"Body": {"1": "John"}}},
    },
    "SandboxTemplate": flat_template("The sandbox takes any template id and flat variables.", patterns.TEMPLATE_ID),
}


# --- What each provider's channel takes ---------------------------------------------------------


@dataclass(frozen=True)
class ProviderRules:
    """The provider class's rules (providers/*/provider.py problems()) as JSON Schema."""

    code: str
    label: str
    max_text: int
    max_media: int
    template: str | None  # the template schema's name, None: no templates
    max_caption: int | None = None  # text that goes with media is a caption
    template_excludes_media: bool = False
    text_needs_a_letter: bool = False  # not only spaces


RULES = [
    ProviderRules("twlo", "Twilio SMS/MMS", 1600, 10, "TwilioTemplate"),
    ProviderRules("twlowa", "Twilio WhatsApp", 1600, 1, "TwilioTemplate"),
    ProviderRules("gswa", "Gupshup WhatsApp", 4096, 1, "GupshupTemplate", 1024, True),
    ProviderRules("sendbulk", "Sendbulk SMS", 4096, 0, None, text_needs_a_letter=True),
    ProviderRules("sandbox", "Sandbox", 4096, 10, "SandboxTemplate"),
]


def content_fields(rules: ProviderRules) -> dict:
    text_schema = text(rules.max_text)
    if rules.code in ("twlo", "twlowa"):
        text_schema["description"] = (
            "At most 1,600 characters as Twilio counts them (UTF-16 code units: an emoji counts as 2), "
            "after placeholders are filled."
        )
    else:
        text_schema["description"] = f"At most {rules.max_text:,} characters, after placeholders are filled."
    if rules.max_caption:
        text_schema["description"] += f" With media it is the caption: at most {rules.max_caption:,}."
    if rules.text_needs_a_letter:
        text_schema["pattern"] = patterns.NOT_BLANK
        text_schema["description"] = "The SMS text (required), not only spaces; at most 4,096 characters."
    fields: dict = {"text": nullable(text_schema)}
    if rules.max_media:
        media = "one media file a message" if rules.max_media == 1 else f"up to {rules.max_media} media URLs in all"
        fields |= {
            "image_url": nullable({**URL, "description": f"{URL['description']} {rules.label} takes {media}."}),
            "image_urls": nullable({"type": "array", "items": URL, "maxItems": rules.max_media}),
            "video_url": nullable(URL),
            "file_url": nullable(URL),
        }
    else:
        fields |= {name: {"type": "null"} for name in ("image_url", "image_urls", "video_url", "file_url")}
    fields["template"] = nullable(ref(rules.template)) if rules.template else {"type": "null"}
    return fields


def present(name: str) -> dict:
    """The field is there and not null (null counts as absent)."""
    kinds = {"image_urls": {"type": "array", "minItems": 1}, "template": {"type": "object"}}
    kinds["text"] = {"type": "string", "minLength": 1}
    return {"required": [name], "properties": {name: kinds.get(name, {"type": "string"})}}


def media_count_at_least(count: int) -> dict:
    """Together, image_url, image_urls, video_url and file_url hold at least ``count`` URLs."""
    cases = []
    for singles in range(len(MEDIA_FIELDS) + 1):
        for chosen in combinations(MEDIA_FIELDS, singles):
            case: dict = {"required": list(chosen), "properties": {name: {"type": "string"} for name in chosen}}
            if count - singles > 0:
                case["required"].append("image_urls")
                case["properties"]["image_urls"] = {"type": "array", "minItems": count - singles}
            cases.append(case)
    return {"anyOf": cases}


def message_rules(rules: ProviderRules) -> list[dict]:
    """The rules that tie fields together: some content; the provider's media count; captions."""
    content = ["text", "template", *(("image_url", "image_urls", "video_url", "file_url") if rules.max_media else ())]
    combined: list[dict] = [{"anyOf": [present(name) for name in content]}]
    if rules.max_media:
        combined.append({"not": media_count_at_least(rules.max_media + 1)})
    if rules.max_caption:
        long_caption = {
            "required": ["text"],
            "properties": {"text": {"type": "string", "minLength": rules.max_caption + 1}},
        }
        combined.append({"not": {"allOf": [media_count_at_least(1), long_caption]}})
    if rules.template_excludes_media:
        combined.append({"not": {"allOf": [present("template"), media_count_at_least(1)]}})
    return combined


def provider_property(rules: ProviderRules) -> dict:
    return {"type": "string", "enum": [rules.code], "description": f"{rules.label}: must be the channel's provider."}


def message_request(rules: ProviderRules) -> dict:
    return {
        "type": "object",
        "title": f"A message on a {rules.label} channel",
        "required": ["provider", "channel_key", "to"],
        "properties": {
            "provider": provider_property(rules),
            "channel_key": ref("ChannelKey"),
            "to": ref("PhoneNumber"),
            "name": nullable(text(200, description="The recipient's name; {{name}} in text.")),
            **content_fields(rules),
            "contact_saving": nullable(ref("ContactSaving")),
            "schedule": SCHEDULE,
            "user_id": nullable({**ROW_ID, "description": USER_ID}),
            "status_callback": STATUS_CALLBACK,
        },
        "additionalProperties": False,
        "allOf": message_rules(rules),
    }


def bulk_request(rules: ProviderRules) -> dict:
    return {
        "type": "object",
        "title": f"A bulk job on a {rules.label} channel",
        "required": ["provider", "channel_key", "recipients"],
        "properties": {
            "provider": provider_property(rules),
            "channel_key": ref("ChannelKey"),
            "recipients": {"type": "array", "items": ref("Recipient"), "minItems": 1, "maxItems": MAX_RECIPIENTS},
            **content_fields(rules),
            "duplicates_allowed": {
                "type": ["boolean", "null"],
                "default": False,
                "description": "false: only the first occurrence of a number (in any spelling) is sent.",
            },
            "track_links": {
                "type": ["boolean", "null"],
                "default": True,
                "description": "true: each http(s) address in the text becomes a short link of its own for "
                "each recipient, which answers with a redirect and counts their clicks (link-preview "
                "fetchers are not counted). false: addresses are sent as written.",
            },
            "schedule": SCHEDULE,
            "user_id": nullable({**ROW_ID, "description": USER_ID}),
            "status_callback": STATUS_CALLBACK,
        },
        "additionalProperties": False,
        "allOf": message_rules(rules),
    }


def one_per_provider(name: str, build, description: str) -> dict:
    return {f"{name}{rules.code.capitalize()}": build(rules) for rules in RULES} | {
        name: {
            "description": description,
            "oneOf": [ref(f"{name}{rules.code.capitalize()}") for rules in RULES],
            "discriminator": {
                "propertyName": "provider",
                "mapping": {rules.code: f"#/components/schemas/{name}{rules.code.capitalize()}" for rules in RULES},
            },
        }
    }


SCHEMAS: dict[str, dict] = {
    "Error": {
        "type": "object",
        "required": ["status", "errors"],
        "properties": {
            "status": {"type": "string", "enum": ["error"]},
            "errors": {
                "type": "array",
                "items": {"type": "object", "required": ["msg"], "properties": {"msg": STRING}},
                "description": "Every problem found, each naming the field and the value sent.",
            },
        },
        "example": {"status": "error", "errors": [{"msg": 'channel_key: "abc" is not a known channel.'}]},
    },
    "PhoneNumber": {
        "type": "string",
        "pattern": patterns.PHONE_NUMBER,
        "description": "A number in E.164, with or without the leading +: country code, then the national "
        "number, digits only. One that is not a number of its country's numbering plan is not found (404).",
        "example": "+14155550123",
    },
    "ChannelKey": {
        "type": "string",
        "pattern": patterns.CHANNEL_KEY,
        "description": "The channel's key, from its page in the admin; a key of another provider's channel "
        "is not found (404).",
        "example": CHANNEL_KEY_EXAMPLE,
    },
    **TEMPLATES,
    "ContactSaving": {
        "type": "object",
        "description": "Save the recipient as a contact (phone, name, extra fields) and add it to a list, as "
        "far as the key allows (set on its admin page): a key whose contact saving is off answers 403 to "
        "save: true; a key for new contacts only (the default for keys made before scopes) saves a new "
        "contact but leaves an existing one's name and extra fields as they are; only a key allowed to "
        "update contacts changes them. list_id may name only the key's lists (403 naming the list).",
        "properties": {
            "save": {"type": ["boolean", "null"], "default": False},
            "list_id": nullable(
                {
                    "anyOf": [
                        {"type": "integer", "minimum": 0, "maximum": MAX_DB_ID},
                        {"type": "string", "pattern": patterns.ROW_ID},
                        {"type": "string", "enum": ["0"]},
                    ],
                    "default": 0,
                    "description": "0 = all contacts, no list; an unknown id is not found (404); a list "
                    "this key may not add contacts to is refused (403).",
                }
            ),
            "extra_fields": nullable(named_values("Merged into the contact's own fields; {{placeholders}} by name.")),
        },
        "additionalProperties": False,
        "example": {"save": True, "list_id": 3, "extra_fields": {"city": "Leeds"}},
    },
    **one_per_provider(
        "MessageRequest",
        message_request,
        "One message; the shape depends on provider. At least one of text, image_url, image_urls, "
        "video_url, file_url or template.",
    ),
    "Recipient": {
        "type": "object",
        "required": ["to"],
        "description": "Any other key is a value for {{placeholders}} in the text or template.",
        "properties": {"to": ref("PhoneNumber"), "name": nullable(text(200))},
        "propertyNames": {"pattern": patterns.PLACEHOLDER_NAME},
        "additionalProperties": nullable(VALUE),
        "example": {"to": "+14155550123", "name": "Ann", "order": "A-1001"},
    },
    **one_per_provider(
        "BulkRequest",
        bulk_request,
        f"Up to {MAX_RECIPIENTS:,} recipients and 10 MB per request; the shape depends on provider. At least "
        "one of text, media or template.",
    ),
    "BulkUpdate": {
        "description": 'Either {"schedule": <time>} (a past time starts the job now) or {"cancel": true}.',
        "oneOf": [
            {
                "type": "object",
                "title": "Reschedule",
                "required": ["schedule"],
                "properties": {"schedule": TIME, "cancel": {"type": ["boolean", "null"], "enum": [False, None]}},
                "additionalProperties": False,
            },
            {
                "type": "object",
                "title": "Cancel",
                "required": ["cancel"],
                "properties": {"cancel": {"type": "boolean", "enum": [True]}, "schedule": {"enum": ["", None]}},
                "additionalProperties": False,
            },
        ],
        "example": {"schedule": "2030-01-02T15:04:05-04:00"},
    },
    "MessageSent": success(
        {"type": "object", "required": ["message_id"], "properties": {"message_id": STRING}},
        example={"message_id": "1234"},
    ),
    "JobCreated": success(
        {
            "type": "object",
            "required": ["job_id", "recipient_count", "duplicates_dropped", "suppressed"],
            "properties": {
                "job_id": STRING,
                "recipient_count": {"type": "integer", "minimum": 0, "description": "Recipients to be sent to."},
                "duplicates_dropped": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Recipients left out because their number (in any spelling, e.g. "
                    "+14155550123 and 14155550123) was already listed; 0 when duplicates_allowed.",
                },
                "suppressed": {
                    "type": "array",
                    "items": STRING,
                    "description": "Recipients' numbers on the suppression list (they opted out): their "
                    "messages are cancelled, never sent, and counted as cancelled in the job's state.",
                },
            },
        },
        example={"job_id": "42", "recipient_count": 1, "duplicates_dropped": 1, "suppressed": []},
    ),
    "MessageState": success(
        {
            "type": "object",
            "required": ["message_id", "state", "to"],
            "properties": {
                "message_id": STRING,
                "state": {"type": "string", "enum": list(OutboundMessage.Status.values)},
                "to": STRING,
                "provider_message_id": STRING,
                "error_code": STRING,
                "error_message": STRING,
                "schedule": nullable(TIME),
                "sent_at": nullable(TIME),
                "delivered_at": nullable(TIME),
                "job_id": nullable(STRING),
                "created_at": TIME,
            },
        }
    ),
    "JobState": success(
        {
            "type": "object",
            "required": ["job_id", "state", "messages"],
            "properties": {
                "job_id": STRING,
                "state": {"type": "string", "enum": list(Campaign.Status.values)},
                "schedule": nullable(TIME),
                "recipient_count": {"type": "integer"},
                "messages": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "How many of the job's messages are in each state.",
                },
                "created_at": TIME,
                "started_at": nullable(TIME),
                "finished_at": nullable(TIME),
                "fanned_out_at": nullable(TIME),
            },
        },
        example={"job_id": "42", "state": "running", "messages": {"sent": 9000, "queued": 998, "cancelled": 2}},
    ),
}

ERRORS = {
    "400": "The body has problems; every one is listed.",
    "401": "The apikey header is missing, unknown, expired or revoked, or the key's owner is no longer active "
    "staff. An expired key answers exactly as an unknown one.",
    "403": "The key may not do this: send on this channel (a key limited to channels; the message names it), "
    "save contacts, add to this list, or name this user_id (only the key's owner, unless the owner is an "
    "administrator).",
    "404": "Not found: an unknown id or channel key (or not this key's), or a number that does not exist in "
    "its country's numbering plan.",
    "409": "The request is well formed but the state forbids it: the channel is switched off, the number "
    "opted out, free-form WhatsApp (text or media) to a number that has not written to the channel within "
    "24 hours (send an approved template instead), or the job has already started; or a request with the "
    "same Idempotency-Key is still in progress (retry after Retry-After to get its answer).",
    "413": "The body is larger than the operation accepts (1 MB; 10 MB for a bulk job).",
    "415": "The body is not application/json.",
    "422": "The Idempotency-Key was used in the last 24 hours for a different request (method, path or body): "
    "send a new key for a new request.",
    "429": "Too many requests a minute for this key, or its daily recipient quota is used up (POST /message "
    "counts 1, a bulk job its recipients, per UTC day; a bulk job that would go over is refused whole). The "
    "message names the quota and when it resets; Retry-After gives the seconds to wait.",
    "500": "Our fault; nothing to fix on your side. Retry later.",
}


def error_responses(*codes: str) -> dict:
    return {
        code: {"description": ERRORS[code], "content": {"application/json": {"schema": ref("Error")}}} for code in codes
    }


def ok(schema: str, links: dict[str, tuple[str, str]] | None = None) -> dict:
    """A 200 answer; links name operations that take an id from it ({name: (operationId, parameter)})."""
    answer: dict = {"description": "Done.", "content": {"application/json": {"schema": ref(schema)}}}
    if links:
        answer["links"] = {
            name: {"operationId": operation, "parameters": {parameter: f"$response.body#/data/{parameter}"}}
            for name, (operation, parameter) in links.items()
        }
    return {"200": answer}


def json_body(schema: str, examples: dict | None = None) -> dict:
    content: dict = {"schema": ref(schema)}
    if examples:
        content["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"required": True, "content": {"application/json": content}}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the request safe to retry: a unique value you choose per request (a UUID, say). "
    "The same key with the same request (method, path and body, byte for byte) within 24 hours answers the "
    "first answer again, with the same id, status and body and the header Idempotent-Replayed: true, and "
    "sends nothing more. The same key with another request is a 422. Keys belong to the API key that sent "
    "them. Only a successful answer is kept: after a 4xx or 5xx the same key may be sent again. A request "
    "sent while another with its key is still in progress waits up to 5 s for that one's answer, then "
    "answers 409 with Retry-After. 1 to 255 printable ASCII characters; anything else is a 400.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}


def id_parameter(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}


MESSAGE_EXAMPLES = {
    "text": {"provider": "twlo", "channel_key": "CHANNEL_KEY", "to": "14155550123", "text": "Hello!"},
    "text and image": {
        "provider": "twlowa",
        "channel_key": "CHANNEL_KEY",
        "to": "+14155550123",
        "text": "Your receipt",
        "image_url": "https://example.com/receipt.png",
    },
    "images (MMS)": {
        "provider": "twlo",
        "channel_key": "CHANNEL_KEY",
        "to": "+14155550123",
        "image_urls": ["https://example.com/1.jpg", "https://example.com/2.jpg"],
    },
    "sandbox (no provider account)": {
        "provider": "sandbox",
        "channel_key": "CHANNEL_KEY",
        "to": "+14155550123",
        "text": "Hello from the sandbox",
    },
    "Twilio WhatsApp template": {
        "provider": "twlowa",
        "channel_key": "CHANNEL_KEY",
        "to": "+14155550123",
        "template": {"id": CONTENT_SID_EXAMPLE, "variables": {"1": "John"}},
    },
    "Gupshup WhatsApp template": {
        "provider": "gswa",
        "channel_key": "CHANNEL_KEY",
        "to": "+14155550123",
        "template": {
            "id": "6f2b9c3e-3f0a-4b8e-9d1c-2a7e5b4c8d90",
            "variables": {
                "MEDIA_URL": "https://example.com/banner.jpg",
                "Header": {"1": "Sale"},
                "Body": {"1": "John", "2": "20%"},
                "Buttons": {"1": "summer"},
            },
        },
    },
    "save the contact in a list": {
        "provider": "twlo",
        "channel_key": "CHANNEL_KEY",
        "to": "+14155550123",
        "name": "John",
        "text": "Welcome, {{name}}!",
        "contact_saving": {"save": True, "list_id": 3, "extra_fields": {"city": "Leeds"}},
    },
    "scheduled": {
        "provider": "twlo",
        "channel_key": "CHANNEL_KEY",
        "to": "+14155550123",
        "text": "See you tomorrow",
        "schedule": "2030-01-02T15:04:05-04:00",
        "user_id": 2,
    },
}
BULK_EXAMPLES = {
    "personalised": {
        "provider": "twlo",
        "channel_key": "CHANNEL_KEY",
        "text": "Hi {{name}}, order {{order}} is ready.",
        "recipients": [
            {"to": "+14155550123", "name": "Ann", "order": "A-1"},
            {"to": "14155550124", "name": "Bob", "order": "A-2"},
        ],
        "duplicates_allowed": False,
        "schedule": "2030-01-02T15:04:05-04:00",
    },
    "sandbox, one number twice": {
        "provider": "sandbox",
        "channel_key": "CHANNEL_KEY",
        "text": "Hi {{name}}",
        "recipients": [{"to": "+14155550123", "name": "Ann"}, {"to": "14155550123", "name": "Ann"}],
    },
}

PATHS: dict[str, dict] = {
    "/message": {
        "post": {
            "operationId": "sendMessage",
            "summary": "Send one message, now or at a scheduled time",
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": json_body("MessageRequest", MESSAGE_EXAMPLES),
            "responses": {
                **ok("MessageSent", links={"getMessage": ("getMessage", "message_id")}),
                **error_responses("400", "401", "403", "404", "409", "413", "415", "422", "429", "500"),
            },
        },
    },
    "/message/{message_id}": {
        "get": {
            "operationId": "getMessage",
            "summary": "A message's state, provider id and error",
            "parameters": [id_parameter("message_id")],
            "responses": {**ok("MessageState"), **error_responses("401", "404", "429", "500")},
        },
    },
    "/messages/bulk": {
        "post": {
            "operationId": "createBulkJob",
            "summary": "Send to up to 10,000 recipients; answered at once, sent in the background",
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": json_body("BulkRequest", BULK_EXAMPLES),
            "responses": {
                **ok(
                    "JobCreated",
                    links={"getBulkJob": ("getBulkJob", "job_id"), "updateBulkJob": ("updateBulkJob", "job_id")},
                ),
                **error_responses("400", "401", "403", "404", "409", "413", "415", "422", "429", "500"),
            },
        },
    },
    "/messages/bulk/{job_id}": {
        "get": {
            "operationId": "getBulkJob",
            "summary": "A bulk job's state and how many of its messages are in each state",
            "parameters": [id_parameter("job_id")],
            "responses": {**ok("JobState"), **error_responses("401", "404", "429", "500")},
        },
        "put": {
            "operationId": "updateBulkJob",
            "summary": "Reschedule or cancel a bulk job before it starts (409 after)",
            "parameters": [id_parameter("job_id"), IDEMPOTENCY_KEY],
            "requestBody": json_body(
                "BulkUpdate", {"reschedule": {"schedule": "2030-01-02T15:04:05-04:00"}, "cancel": {"cancel": True}}
            ),
            "responses": {
                **ok("JobState"),
                **error_responses("400", "401", "404", "409", "413", "415", "422", "429", "500"),
            },
        },
    },
}


KEY_SCOPE = (
    "A key made by staff in the admin (API keys) or with manage.py createapikey; it acts as its owner, "
    "an active staff user. Each key has a scope, shown on its admin page: the channels it may send on "
    "(and whose messages and jobs it may read), or every channel; whether contact_saving may "
    "save contacts (off, new contacts only, or also update existing ones) and into which lists, whether "
    "user_id may name anyone but its owner (only an administrator's key), when it expires, and its daily "
    "recipient quota (per UTC day)."
)


@cache
def _document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Messaging API",
            "version": "1.0",
            "description": "Send SMS and WhatsApp messages one at a time or in bulk jobs. Compatible with the "
            "Sociocs messaging API: send your key in the apikey header and JSON bodies. Every error answer is "
            '{"status": "error", "errors": [{"msg": ...}]} listing every problem at once.',
        },
        "servers": [{"url": settings.PUBLIC_BASE_URL}],
        "security": [{"apikey": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "apikey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "apikey",
                    "description": KEY_SCOPE,
                }
            },
            "schemas": SCHEMAS,
        },
    }


def document() -> dict:
    """A copy the caller may change."""
    return deepcopy(_document())
