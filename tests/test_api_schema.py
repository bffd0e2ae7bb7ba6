"""The OpenAPI document is served and rendered; test_api_schemathesis_cli.py holds the server to it.

(The in-process schemathesis run that lived here is replaced by the outside command-line run with
every check, which exercises the same operations through a real HTTP server.)
"""

from __future__ import annotations

import json

from django.test import Client

from campaigns.api.openapi import document


def test_the_document_is_served_and_the_docs_page_lists_every_operation():
    client = Client()
    served = json.loads(client.get("/api/openapi.json").content)
    assert served["openapi"] == "3.1.0"
    page = client.get("/api/docs").content.decode()
    for path, methods in served["paths"].items():
        for method in methods:
            assert f"{method.upper()}</span> <code>{path}</code>" in page
    assert "HXb5b62575e6e4ff6129ad7c8efe1f983e" in page  # the examples are shown
    assert "<script" not in page  # no CDN, nothing to fetch
    assert page.count("Header <code>Idempotency-Key</code>") == 3


def test_the_idempotency_key_is_documented_where_the_server_takes_it():
    doc = document()
    keyed = {
        (method, path)
        for path, methods in doc["paths"].items()
        for method, operation in methods.items()
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    assert keyed == {("post", "/message"), ("post", "/messages/bulk"), ("put", "/messages/bulk/{job_id}")}
    for method, path in keyed:
        assert {"409", "422"} <= set(doc["paths"][path][method]["responses"])


def test_every_example_in_the_document_matches_its_own_schema():
    """The examples are what the docs page tells clients to send: the document must allow them."""
    import jsonschema

    doc = document()
    for methods in doc["paths"].values():
        for operation in methods.values():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            for name, example in content.get("examples", {}).items():
                schema = {**content["schema"], "components": doc["components"]}
                validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
                errors = [error.message for error in validator.iter_errors(example["value"])]
                assert not errors, (name, errors)
