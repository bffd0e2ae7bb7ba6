"""Shared pieces of the Twilio tests: the loopback fake, channels pointed at it, and the spec validators.

The request validators read Twilio's own OpenAPI excerpts, kept in tests/specs/ with their licence
(LICENSE-twilio-oai.txt), made strict: an object schema allows no property it does not list, so a misspelt field fails.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from providers.fakes.server import Behaviour
from providers.models import Channel
from providers.twilio.fake import FakeTwilio

SPECS = Path(__file__).resolve().parent / "specs"  # inside the checkout: a fresh clone has them
MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-4c1d"
SENDER = "+15005550006"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
CONTENT_SID = "HX" + "00112233445566778899aabbccddeeff"


def test_the_specs_are_where_the_tests_expect_them():
    assert (SPECS / "twilio_api_v2010_messages.json").is_file()
    assert (SPECS / "twilio_messaging_bulk_v1.json").is_file()
    assert (SPECS / "LICENSE-twilio-oai.txt").is_file()  # their licence travels with them


# --- fake and channels ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def twilio_server():
    """One loopback server for the session: stopping one takes half a second (its poll interval)."""
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
def fake_twilio(twilio_server):
    """The fake, forgetting what earlier tests sent and injected. It calls back only when a test
    turns callbacks on (and points PUBLIC_BASE_URL at a live server): 127.0.0.1:8000 may be
    someone's `make run`."""
    twilio_server.reset(Behaviour(callback_delay=0.05))
    twilio_server.send_callbacks = False
    return twilio_server


@pytest.fixture
def make_twilio_channel(db, fake_twilio):
    def make(provider: str = "twlo", **fields) -> Channel:
        values = {
            "name": f"Twilio {provider} {Channel.objects.count() + 1}",
            "provider": provider,
            "sender": SENDER,
            "credentials": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
            "api_base_url": fake_twilio.base_url,
            "rate_limit": 1000,
        }
        values.update(fields)
        return Channel.objects.create(**values)

    return make


# --- OpenAPI validation --------------------------------------------------------------------------


@cache
def _spec(name: str) -> dict:
    return json.loads((SPECS / name).read_text())


def _strict(schema: object) -> object:
    """OpenAPI 3.0 schema -> JSON Schema: no unknown properties, `nullable` as a null type."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _strict(value) for key, value in schema.items()}
    if "properties" in result and "additionalProperties" not in result:
        result["additionalProperties"] = False
    if result.pop("nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def _format_checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("phone-number")
    def is_address(value: object) -> bool:
        # E.164, a WhatsApp address, or (for From) a short code / sender id as Twilio allows.
        if not isinstance(value, str):
            return True  # formats only constrain strings; the type keyword handles the rest
        return bool(re.fullmatch(r"(whatsapp:)?\+[1-9]\d{6,14}|[A-Za-z0-9 ]{3,11}", value))

    @checker.checks("uri")
    def is_uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.netloc)

    return checker


def _validator(spec_name: str, schema: dict) -> Draft202012Validator:
    document = _strict(copy.deepcopy({**schema, "components": _spec(spec_name)["components"]}))
    return Draft202012Validator(document, format_checker=_format_checker())


def _errors(validator: Draft202012Validator, instance: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in validator.iter_errors(instance)]


def message_request_errors(form_body: bytes) -> list[str]:
    """Problems of a Messages.json form body against Twilio's CreateMessageRequest schema."""
    operation = _spec("twilio_api_v2010_messages.json")["paths"][MESSAGES_PATH]["post"]
    schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    return _errors(_validator("twilio_api_v2010_messages.json", schema), _form_to_json(form_body, schema))


def message_response_errors(body: dict) -> list[str]:
    schema = {"$ref": "#/components/schemas/api.v2010.account.message"}
    return _errors(_validator("twilio_api_v2010_messages.json", schema), body)


def account_response_errors(body: dict) -> list[str]:
    schema = {"$ref": "#/components/schemas/api.v2010.account"}
    return _errors(_validator("twilio_api_v2010_messages.json", schema), body)


def bulk_request_errors(payload: object) -> list[str]:
    """Problems of a 1:Many JSON body against Twilio's CreateMessagesRequest schema."""
    operation = _spec("twilio_messaging_bulk_v1.json")["paths"]["/v1/Messages"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return _errors(_validator("twilio_messaging_bulk_v1.json", schema), payload)


def bulk_response_errors(body: object) -> list[str]:
    schema = {"$ref": "#/components/schemas/messaging.v1.CreateMessagesResult"}
    return _errors(_validator("twilio_messaging_bulk_v1.json", schema), body)


def _form_to_json(form_body: bytes, schema: dict) -> dict:
    """A form body as the JSON object OpenAPI describes: arrays from repeated fields, typed scalars."""
    instance: dict[str, object] = {}
    for name, values in parse_qs(form_body.decode(), keep_blank_values=True).items():
        kind = schema["properties"].get(name, {}).get("type", "string")
        if kind == "array":
            instance[name] = values
            continue
        if len(values) > 1:
            instance[name] = values  # a repeated scalar: the validator reports it as not a string
            continue
        instance[name] = _typed(values[0], kind)
    return instance


def _typed(value: str, kind: str) -> object:
    if kind == "integer" and value.lstrip("-").isdigit():
        return int(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value
