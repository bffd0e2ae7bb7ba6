"""The API described as an OpenAPI 3.0 document, served at /api/openapi.json and rendered at /api/docs.

Written by hand next to the code it describes; tests/test_api_schema.py runs schemathesis against
the running app so that the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from copy import deepcopy
from functools import cache

from django.conf import settings

from campaigns.models import Campaign, OutboundMessage

CONTENT_SID_EXAMPLE = "HXb5b62575e6e4ff6129ad7c8efe1f983e"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


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


STRING = {"type": "string"}
URL = {"type": "string", "format": "uri", "example": "https://example.com/picture.jpg"}
TIME = {"type": "string", "format": "date-time"}
SCALAR = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}

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
    "Template": {
        "type": "object",
        "description": "A provider-approved WhatsApp template. twlo/twlowa: id is a Twilio Content SID "
        '(HX + 32 hex digits), variables {"1": "John"}. gswa: id is the Gupshup template id, variables '
        '{"MEDIA_URL": url, "Header": {"1": ..}, "Body": {"1": ..}, "Buttons": {"1": ..}}. '
        "Values may hold {{placeholders}} filled per recipient.",
        "required": ["id"],
        "properties": {"id": STRING, "variables": {"type": "object", "nullable": True}},
        "additionalProperties": False,
        "example": {"id": CONTENT_SID_EXAMPLE, "variables": {"1": "John"}},
    },
    "ContactSaving": {
        "type": "object",
        "description": "Save the recipient as a contact (phone, name, extra fields) and add it to a list.",
        "properties": {
            "save": {"type": "boolean", "default": False, "nullable": True},
            "list_id": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "nullable": True,
                "description": "0 = all contacts, no list; an unknown id is refused.",
            },
            "extra_fields": {
                "type": "object",
                "nullable": True,
                "description": "Merged into the contact's own fields.",
                "additionalProperties": SCALAR,
            },
        },
        "additionalProperties": False,
        "example": {"save": True, "list_id": 3, "extra_fields": {"city": "Leeds"}},
    },
    "MessageRequest": {
        "type": "object",
        "required": ["provider", "channel_key", "to"],
        "description": "At least one of text, image_url, image_urls, video_url, file_url or template.",
        "properties": {
            "provider": {
                "type": "string",
                "enum": ["twlo", "twlowa", "gswa", "sendbulk", "sandbox"],
                "description": "Must be the channel's provider.",
            },
            "channel_key": {**STRING, "description": "The channel's key, from its page in the admin."},
            "to": {**STRING, "description": "E.164, with or without the leading +.", "example": "+14155550123"},
            "name": nullable({**STRING, "maxLength": 200, "description": "The recipient's name; {{name}} in text."}),
            "text": nullable({**STRING, "maxLength": 4096}),
            "image_url": nullable(URL),
            "image_urls": nullable({"type": "array", "items": URL, "maxItems": 10}),
            "video_url": nullable(URL),
            "file_url": nullable(URL),
            "template": ref("Template"),
            "contact_saving": ref("ContactSaving"),
            "schedule": nullable(
                {
                    **TIME,
                    "description": "ISO 8601 with offset. Future: scheduled; past or absent: now.",
                    "example": "2030-01-02T15:04:05-04:00",
                }
            ),
            "user_id": nullable(
                {"type": "integer", "minimum": 1, "description": "The team member shown as the sender; absent: API."}
            ),
        },
        "additionalProperties": False,
    },
    "Recipient": {
        "type": "object",
        "required": ["to"],
        "description": "Any other key is a value for {{placeholders}} in the text or template.",
        "properties": {"to": STRING, "name": nullable({**STRING, "maxLength": 200})},
        "additionalProperties": SCALAR,
        "example": {"to": "+14155550123", "name": "Ann", "order": "A-1001"},
    },
    "BulkRequest": {
        "type": "object",
        "required": ["provider", "channel_key", "recipients"],
        "description": "Up to 10,000 recipients and 10 MB per request; at least one of text, media or template.",
        "properties": {
            "provider": {"type": "string", "enum": ["twlo", "twlowa", "gswa", "sendbulk", "sandbox"]},
            "channel_key": STRING,
            "recipients": {"type": "array", "items": ref("Recipient"), "minItems": 1, "maxItems": 10_000},
            "text": nullable({**STRING, "maxLength": 4096, "example": "Hi {{name}}, your order {{order}} is ready."}),
            "image_url": nullable(URL),
            "image_urls": nullable({"type": "array", "items": URL, "maxItems": 10}),
            "video_url": nullable(URL),
            "file_url": nullable(URL),
            "template": ref("Template"),
            "duplicates_allowed": {
                "type": "boolean",
                "default": False,
                "nullable": True,
                "description": "false: only the first occurrence of a number is sent.",
            },
            "schedule": nullable({**TIME, "description": "Future: the job waits; past or absent: now."}),
            "user_id": nullable({"type": "integer", "minimum": 1}),
        },
        "additionalProperties": False,
    },
    "BulkUpdate": {
        "type": "object",
        "description": "Either a new schedule (a past time starts the job now) or cancel: true.",
        "properties": {"schedule": nullable(TIME), "cancel": {"type": "boolean", "nullable": True}},
        "additionalProperties": False,
        "example": {"schedule": "2030-01-02T15:04:05-04:00"},
    },
    "MessageSent": success(
        {"type": "object", "required": ["message_id"], "properties": {"message_id": STRING}},
        example={"message_id": "1234"},
    ),
    "JobCreated": success(
        {
            "type": "object",
            "required": ["job_id", "recipient_count", "duplicates_dropped"],
            "properties": {
                "job_id": STRING,
                "recipient_count": {"type": "integer", "minimum": 0, "description": "Recipients to be sent to."},
                "duplicates_dropped": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Recipients left out because their number (in any spelling, e.g. "
                    "+14155550123 and 14155550123) was already listed; 0 when duplicates_allowed.",
                },
            },
        },
        example={"job_id": "42", "recipient_count": 1, "duplicates_dropped": 1},
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
    "401": "The apikey header is missing, unknown or revoked.",
    "404": "Not found (or not this key's), or every problem is an unknown id.",
    "413": "The body is larger than the operation accepts (1 MB for a message, 10 MB for a bulk job).",
    "415": "The body is not application/json.",
    "429": "Too many requests for this key; see the Retry-After header.",
    "500": "Our fault; nothing to fix on your side. Retry later.",
}


def error_responses(*codes: str) -> dict:
    return {
        code: {"description": ERRORS.get(code, "Conflict."), "content": {"application/json": {"schema": ref("Error")}}}
        for code in codes
    }


def ok(schema: str) -> dict:
    return {"200": {"description": "Done.", "content": {"application/json": {"schema": ref(schema)}}}}


def json_body(schema: str, examples: dict | None = None) -> dict:
    content: dict = {"schema": ref(schema)}
    if examples:
        content["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"required": True, "content": {"application/json": content}}


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
    "images only": {
        "provider": "gswa",
        "channel_key": "CHANNEL_KEY",
        "to": "+14155550123",
        "image_urls": ["https://example.com/1.jpg", "https://example.com/2.jpg"],
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
}

PATHS: dict[str, dict] = {
    "/message": {
        "post": {
            "operationId": "sendMessage",
            "summary": "Send one message, now or at a scheduled time",
            "requestBody": json_body("MessageRequest", MESSAGE_EXAMPLES),
            "responses": {**ok("MessageSent"), **error_responses("400", "401", "404", "413", "415", "429", "500")},
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
            "requestBody": json_body("BulkRequest", BULK_EXAMPLES),
            "responses": {**ok("JobCreated"), **error_responses("400", "401", "404", "413", "415", "429", "500")},
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
            "parameters": [id_parameter("job_id")],
            "requestBody": json_body(
                "BulkUpdate", {"reschedule": {"schedule": "2030-01-02T15:04:05-04:00"}, "cancel": {"cancel": True}}
            ),
            "responses": {**ok("JobState"), **error_responses("400", "401", "404", "409", "413", "415", "429", "500")},
        },
    },
}


@cache
def _document() -> dict:
    return {
        "openapi": "3.0.3",
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
            "securitySchemes": {"apikey": {"type": "apiKey", "in": "header", "name": "apikey"}},
            "schemas": SCHEMAS,
        },
    }


def document() -> dict:
    """A copy the caller may change."""
    return deepcopy(_document())
