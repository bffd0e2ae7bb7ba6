"""The API's lane (messaging_site/api_lane.py) answers exactly as Django's own path does.

The WSGI application gunicorn serves (messaging_site.wsgi.application) sends the API's paths
straight to their views; the same requests through Django's plain handler must get the same status,
headers and body. tests/test_api_lane_*.py run the API's suites again through the lane.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from django.db import connection
from django.urls import resolve

from campaigns.models import OutboundMessage
from messaging_site import wsgi
from messaging_site.api_lane import API_PREFIX, routes
from tests.test_api_message import api_key, api_user  # noqa: F401
from tests.test_fast_lane import call

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGE_ID = re.compile(rb'"message_id":"[0-9]+"')


def both(method: str, path: str, body: object = None, **headers) -> tuple:
    """The lane's answer and Django's, to the same request (a new message's ids made alike)."""
    data = json.dumps(body).encode() if body is not None else b""
    answers = []
    for application in (wsgi.application, wsgi.django_application):
        status, response_headers, content = call(application, method, path, data, "application/json", **headers)
        if method == "POST":
            content = MESSAGE_ID.sub(b'"message_id":"N"', content)
        answers.append((status, response_headers, content))
    return answers


def message(channel, **fields) -> dict:
    return {"provider": "sandbox", "channel_key": channel.channel_key, "to": "+14155550123", "text": "Hi", **fields}


def test_a_message_gets_the_same_answer_and_each_path_makes_one(api_key, channel):  # noqa: F811
    lane, django = both("POST", "/message", message(channel), HTTP_APIKEY=api_key)
    assert lane == django
    assert lane[0] == "200 OK"
    assert ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'") in lane[1]
    assert ("X-Content-Type-Options", "nosniff") in lane[1]
    assert OutboundMessage.objects.count() == 2


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no key", "401 Unauthorized"),
        ("unknown key", "401 Unauthorized"),
        ("bad number", "400 Bad Request"),
        ("unknown field", "400 Bad Request"),
        ("not JSON", "400 Bad Request"),
        ("GET on /message", "405 Method Not Allowed"),
        ("message not found", "404 Not Found"),
        ("bulk job not found", "404 Not Found"),
        ("no such endpoint", "404 Not Found"),
        ("trailing slash", "200 OK"),
    ],
)
def test_a_refused_request_gets_the_same_refusal(api_key, channel, case, expected):  # noqa: F811
    method, path, body, headers = "POST", "/message", message(channel), {"HTTP_APIKEY": api_key}
    if case == "no key":
        headers = {}
    elif case == "unknown key":
        headers["HTTP_APIKEY"] = "sk_nosuchkey"
    elif case == "bad number":
        body["to"] = "+1415"
    elif case == "unknown field":
        body["colour"] = "red"
    elif case == "not JSON":
        body = "{"
    elif case == "GET on /message":
        method, body = "GET", None
    elif case == "message not found":
        method, path, body = "GET", "/message/999999", None
    elif case == "bulk job not found":
        method, path, body = "GET", "/messages/bulk/999999", None
    elif case == "no such endpoint":
        path = "/messages/nothing/here"
    elif case == "trailing slash":
        path = "/message/"
    lane, django = both(method, path, body, **headers)
    assert lane == django
    assert lane[0] == expected


def test_a_message_read_back_gets_the_same_answer(api_key, channel):  # noqa: F811
    _, _, content = call(wsgi.application, "POST", "/message", json.dumps(message(channel)).encode(),
                         "application/json", HTTP_APIKEY=api_key)  # fmt: skip
    message_id = json.loads(content)["data"]["message_id"]
    lane, django = both("GET", f"/message/{message_id}", HTTP_APIKEY=api_key)
    assert lane == django
    assert lane[0] == "200 OK" and json.loads(lane[2])["data"]["message_id"] == message_id


def test_other_paths_are_not_the_lanes():
    assert not API_PREFIX.match("/api/docs")
    assert not API_PREFIX.match("/messagesx")
    assert not API_PREFIX.match("/webhooks/twlo/x/status")
    assert API_PREFIX.match("/message") and API_PREFIX.match("/messages/bulk/3")


@pytest.mark.parametrize(
    "path", ["/message", "/message/", "/message/12", "/message/12/", "/messages/bulk", "/messages/bulk/3/"]
)
def test_each_route_names_the_view_the_urlconf_names(path):
    matched = [(pattern.fullmatch(path), view) for pattern, view in routes() if pattern.fullmatch(path)]
    assert len(matched) == 1
    found, view = matched[0]
    resolved = resolve(path)
    assert resolved.func is view
    assert resolved.kwargs == found.groupdict()


def test_every_api_url_under_the_prefix_but_the_catch_all_has_a_route():
    """An endpoint added to campaigns/api/urls.py but not to routes() would still work (the
    resolver), only slower: this names it."""
    from campaigns.api.urls import urlpatterns

    views = {view for _, view in routes()}
    under = [p for p in urlpatterns if API_PREFIX.match("/" + p.pattern.regex.pattern.lstrip("^")) and p.name]
    assert under and all(p.callback in views for p in under), under


@pytest.mark.skipif(connection.vendor != "postgresql", reason="kills a PostgreSQL connection")
def test_a_request_on_a_connection_postgresql_ended_gets_a_new_one(api_key, channel, monkeypatch):  # noqa: F811
    """Production keeps connections (DATABASE_CONN_MAX_AGE) and the lane checks them without a
    round trip: a connection that died between two requests is replaced before the first query,
    and the message is made once."""
    from django.db import connections

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.close()  # the next one is opened with these
    body = json.dumps(message(channel)).encode()
    call(wsgi.application, "POST", "/message", body, "application/json", HTTP_APIKEY=api_key)  # kept now
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            gone_by = time.monotonic() + 10  # it ends a moment later: the request comes after that
            while time.monotonic() < gone_by:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if not cursor.fetchone()[0]:
                    break
                time.sleep(0.01)
    finally:
        other.close()
    status, _, content = call(wsgi.application, "POST", "/message", body, "application/json", HTTP_APIKEY=api_key)
    assert status == "200 OK", content
    assert OutboundMessage.objects.count() == 2
    assert connection.connection.info.backend_pid != pid
