"""The OpenAPI document is true: schemathesis throws generated requests (valid and invalid) at the app.

It must find no 5xx, no status code the document does not list, and no answer that breaks the
documented schema. Runs in-process through the WSGI application, bounded by max_examples.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from campaigns.api.openapi import document
from campaigns.models import ApiKey
from messaging_site.wsgi import application

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_dict(document())
schema.app = application  # calls go through the WSGI app in-process, no network
# Too many recipients is documented as 413 (as Twilio's bulk API does), not 400.
schema.config.checks.negative_data_rejection.expected_statuses = ["400", "401", "404", "405", "409", "413", "415"]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def keep_the_test_connection():
    """As Django's test client does: a WSGI request would otherwise close the connection that holds
    the test's transaction (PostgreSQL) at its start and end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def apikey(django_user_model, settings) -> str:
    settings.ALLOWED_HOSTS = ["*"]
    settings.API_RATE_LIMIT_PER_MINUTE = 1_000_000
    user = django_user_model.objects.create_user("schemathesis", is_staff=True)
    return ApiKey.issue(user)[1]


@schema.parametrize()
@hypothesis_settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_documented_contract(case, apikey, channel, keep_the_test_connection):
    if isinstance(case.body, dict) and isinstance(case.body.get("channel_key"), str):
        case.body["channel_key"] = channel.channel_key  # reach past the channel lookup into the other checks
    case.call_and_validate(headers={"apikey": apikey}, checks=CHECKS)


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
