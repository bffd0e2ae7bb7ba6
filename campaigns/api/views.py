"""The API's views: thin; reading, checking and doing live in messages.py and bulk.py."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from campaigns.api import bulk, messages
from campaigns.api.http import endpoint, error_response, json_response, success
from campaigns.api.idempotency import idempotent
from campaigns.api.openapi import document
from campaigns.api.validation import read_json_body, shown
from campaigns.models import ApiKey


@idempotent(messages.MESSAGE_BODY_LIMIT)
def post_message(request: HttpRequest, api_key: ApiKey) -> HttpResponse:
    data = read_json_body(request, messages.MESSAGE_BODY_LIMIT)
    message = messages.send_message(messages.read_message(data, api_key), api_key)
    return success({"message_id": str(message.pk)})


post_message.recipients_at_admission = 1  # counted with the key's rate (campaigns/api/auth.py)


def get_message(request: HttpRequest, api_key: ApiKey, message_id: str) -> HttpResponse:
    return success(messages.message_state(messages.find_message(message_id, api_key)))


@idempotent(bulk.BULK_BODY_LIMIT)
def post_bulk_job(request: HttpRequest, api_key: ApiKey) -> HttpResponse:
    data = read_json_body(request, bulk.BULK_BODY_LIMIT)
    request_ = bulk.read_bulk(data, api_key)
    job = bulk.create_job(request_, api_key)
    return success(
        {
            "job_id": str(job.pk),
            "recipient_count": job.recipient_count,
            "duplicates_dropped": request_.duplicates_dropped,
            "suppressed": request_.suppressed,
        }
    )


def get_bulk_job(request: HttpRequest, api_key: ApiKey, job_id: str) -> HttpResponse:
    return success(bulk.job_state(bulk.find_job(job_id, api_key)))


@idempotent(messages.MESSAGE_BODY_LIMIT)
def put_bulk_job(request: HttpRequest, api_key: ApiKey, job_id: str) -> HttpResponse:
    job = bulk.find_job(job_id, api_key)
    data = read_json_body(request, messages.MESSAGE_BODY_LIMIT)
    return success(bulk.job_state(bulk.update_job(job, data)))


def openapi_json(request: HttpRequest) -> HttpResponse:
    return json_response(document())


def api_docs(request: HttpRequest) -> HttpResponse:
    return render(request, "api/docs.html", {"doc": document(), "operations": operations()})


def operations() -> list[dict]:
    """The document's operations in reading order, flattened for the docs page."""
    doc = document()
    schemas = doc["components"]["schemas"]
    found = []
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            schema = resolve(body["schema"], schemas) if body else {}
            examples = {name: json.dumps(e["value"], indent=2) for name, e in body.get("examples", {}).items()}
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation["summary"],
                    "description": schema.get("description", ""),
                    "fields": schema_fields(schema, schemas),
                    "examples": examples,
                    "headers": [p for p in operation.get("parameters", []) if p["in"] == "header"],
                    "responses": {code: r["description"] for code, r in operation["responses"].items()},
                }
            )
    return found


def resolve(schema: dict, schemas: dict) -> dict:
    return schemas[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema


def schema_fields(schema: dict, schemas: dict) -> list[dict]:
    """Every field any variant (one per provider) takes; required where every variant requires it.
    Where the variants differ (text limits, template shapes), the meaning says so per provider."""
    variants = [resolve(variant, schemas) for variant in schema.get("oneOf", [])] or [schema]
    required = set.intersection(*(set(variant.get("required", [])) for variant in variants))
    types: dict[str, list[str]] = {}
    meanings: dict[str, dict[str, list[str]]] = {}
    for variant in variants:
        provider = " ".join(variant.get("properties", {}).get("provider", {}).get("enum", []))
        for name, prop in variant.get("properties", {}).items():
            if prop == {"type": "null"}:
                continue
            types.setdefault(name, []).append(type_name(prop, schemas))
            meanings.setdefault(name, {}).setdefault(description(prop, schemas), []).append(provider)
    fields = []
    for name, kinds in types.items():
        said = meanings[name]
        if len(said) == 1 or name == "provider":
            meaning = next(iter(said)) if name != "provider" else "Must be the channel's provider."
        else:
            meaning = " ".join(f"{'/'.join(filter(None, who)) or 'all'}: {text}" for text, who in said.items() if text)
        kind = " | ".join(dict.fromkeys(part for kinds_of in kinds for part in kinds_of.split(" | ")))
        fields.append({"name": name, "type": kind, "required": name in required, "description": meaning})
    return fields


def type_name(schema: dict, schemas: dict) -> str:
    schema = resolve(schema, schemas)
    if "enum" in schema:
        return " | ".join(
            json.dumps(value) if value == "" else str(value) for value in schema["enum"] if value is not None
        )
    if "anyOf" in schema:
        names = [type_name(option, schemas) for option in schema["anyOf"] if option.get("type") != "null"]
        return " | ".join(dict.fromkeys(names))
    kinds = schema.get("type", "object")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return " | ".join(kind for kind in kinds if kind != "null") or "object"


def description(schema: dict, schemas: dict) -> str:
    found = schema.get("description") or resolve(schema, schemas).get("description")
    for option in schema.get("anyOf", []):
        found = found or resolve(option, schemas).get("description")
    items = schema.get("items")
    if not found and items:
        found = resolve(items, schemas).get("description")
    return found or ""


def no_such_endpoint(request: HttpRequest, path: str) -> HttpResponse:
    return error_response(404, [f"There is no API endpoint at {shown('/' + path[:100])}; see /api/docs."])


message = endpoint(POST=post_message)
message_detail = endpoint(GET=get_message)
bulk_jobs = endpoint(POST=post_bulk_job)
bulk_job_detail = endpoint(GET=get_bulk_job, PUT=put_bulk_job)
openapi = endpoint(authenticated=False, GET=openapi_json)
docs = endpoint(authenticated=False, GET=api_docs)
not_found = endpoint(authenticated=False, ANY=no_such_endpoint)
