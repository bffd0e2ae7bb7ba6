"""The fast lane (messaging_site/fast_lane.py) answers exactly as Django's own path does.

The WSGI application gunicorn serves (messaging_site.wsgi.application) sends /webhooks/ and /l/
straight to their views; the same requests through Django's plain handler must get the same status,
headers and body, and leave the same rows. tests/test_fast_lane_*.py run the webhook and link
suites again through the lane.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from django.db import connection
from django.test import RequestFactory
from django.urls import resolve
from django.utils import timezone

from campaigns.models import LinkClick, ShortLink
from messaging_site import wsgi
from messaging_site.fast_lane import LANE_PREFIX, routes
from providers.models import Channel, ReceivedEvent
from providers.twilio.signature import compute_signature
from tests.test_twilio_support import ACCOUNT_SID, AUTH_TOKEN, SENDER

pytestmark = pytest.mark.django_db(transaction=True)
SID = "SM" + "cd" * 16


@pytest.fixture
def twilio(db) -> Channel:
    return Channel.objects.create(
        name="Twilio SMS",
        provider="twlo",
        sender=SENDER,
        credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
    )


@pytest.fixture
def gupshup(db) -> Channel:
    return Channel.objects.create(name="Gupshup", provider="gswa", sender="+15550001111", credentials={"apikey": "k"})


@pytest.fixture
def link(twilio) -> ShortLink:
    now = timezone.now()
    return ShortLink.objects.create(
        code="Ab3dE5gH",
        message_id=0,
        url="https://shop.example/sale",
        created_at=now,
        expires_at=now + timezone.timedelta(days=1),
    )


def call(application, method: str, path: str, body: bytes = b"", content_type: str = "", **headers) -> tuple:
    """(status, headers, body) of one request through a WSGI application, as gunicorn calls it."""
    environ = (
        RequestFactory().generic(method, path, body, content_type or "application/octet-stream", **headers).environ
    )
    if not content_type:
        environ.pop("CONTENT_TYPE", None)
    answered = {}

    def start_response(status, response_headers, exc_info=None):
        answered.update(status=status, headers=sorted(response_headers))

    result = application(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return answered["status"], answered["headers"], content


def signed_status(channel: Channel, query: str = "", **changes) -> tuple[str, bytes, str]:
    """A "delivered" callback as Twilio signs it: (path with the query, body, signature)."""
    params = {"AccountSid": ACCOUNT_SID, "MessageSid": SID, "MessageStatus": "delivered", "To": "+447911123456"}
    params.update(changes)
    url = channel.webhook_url("status") + query
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path, urlencode(params).encode(), compute_signature(AUTH_TOKEN, url, params)


def both(method: str, path: str, body: bytes = b"", content_type: str = "", **headers) -> tuple:
    """The lane's answer and Django's, to the same request; each path's rows are cleared after it."""
    answers = []
    for application in (wsgi.application, wsgi.django_application):
        answers.append(call(application, method, path, body, content_type, **headers))
        answers.append(sorted(ReceivedEvent.objects.values_list("kind", "channel_id", "event")))
        answers.append(LinkClick.objects.count())
        ReceivedEvent.objects.all().delete()
        LinkClick.objects.all().delete()
    return answers[:3], answers[3:]


FORM = "application/x-www-form-urlencoded"


def test_a_signed_callback_gets_the_same_answer_and_the_same_row(twilio):
    path, body, signature = signed_status(twilio)
    lane, django = both("POST", path, body, FORM, HTTP_X_TWILIO_SIGNATURE=signature)
    assert lane == django
    assert lane[0][0] == "200 OK"
    assert lane[1] == [
        ("receipt", twilio.pk, {"provider_message_id": SID, "state": "delivered", "recipient": "+447911123456"})
    ]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong signature", "403 Forbidden"),
        ("no signature", "403 Forbidden"),
        ("unknown token", "404 Not Found"),
        ("GET", "405 Method Not Allowed"),
        ("NUL in a field", "400 Bad Request"),
        ("latin-1 form", "415 Unsupported Media Type"),
        ("too big", "413 Request Entity Too Large"),
        ("our id not digits", "400 Bad Request"),
        ("other provider's path", "404 Not Found"),
    ],
)
def test_a_refused_callback_gets_the_same_refusal_and_no_row(twilio, case, expected):
    path, body, signature = signed_status(twilio)
    method, content_type, headers = "POST", FORM, {"HTTP_X_TWILIO_SIGNATURE": signature}
    if case == "wrong signature":
        headers["HTTP_X_TWILIO_SIGNATURE"] = "x" + signature[1:]
    elif case == "no signature":
        headers = {}
    elif case == "unknown token":
        path = path.replace(twilio.webhook_token, "nosuchtoken")
    elif case == "GET":
        method, body = "GET", b""
    elif case == "NUL in a field":
        path, body, signature = signed_status(twilio, MessageSid="SM\x00")
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature
    elif case == "latin-1 form":
        content_type = FORM + "; charset=latin-1"
    elif case == "too big":
        body = b"a=" + b"b" * 300_000
    elif case == "our id not digits":
        path, body, signature = signed_status(twilio, "?m=12x")
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature
    elif case == "other provider's path":
        path = path.replace("/twlo/", "/twlowa/")
    lane, django = both(method, path, body, content_type, **headers)
    assert lane == django
    assert lane[0][0] == expected
    assert lane[1] == []


def test_a_gupshup_event_gets_the_same_answer_and_row(gupshup):
    body = b'{"type": "message-event", "payload": {"id": "gs-1", "type": "delivered", "payload": {}}}'
    path = urlsplit(gupshup.webhook_url("events")).path
    lane, django = both("POST", path, body, "application/json")
    assert lane == django
    assert lane[0][0] == "200 OK" and len(lane[1]) == 1
    nested = b"[" * 40 + b"]" * 40
    lane, django = both("POST", path, nested, "application/json")
    assert lane == django and lane[0][0] == "400 Bad Request" and b'"field": "body[0]' in lane[0][2]


@pytest.mark.parametrize(
    ("path", "agent", "clicks"),
    [
        ("/l/Ab3dE5gH", "Mozilla/5.0", 1),
        ("/l/Ab3dE5gH", "WhatsApp/2.23", 0),
        ("/l/Zz9yX8wV", "Mozilla/5.0", 0),
        ("/l/Ab3d%00E5", "Mozilla/5.0", 0),
        ("/l/a/b", "Mozilla/5.0", 0),
        ("/l/", "Mozilla/5.0", 0),
    ],
)
def test_a_redirect_gets_the_same_answer_and_click(link, path, agent, clicks):
    lane, django = both("GET", path, HTTP_USER_AGENT=agent)
    assert lane == django
    assert lane[2] == clicks


def test_head_and_post_on_a_link_get_the_same_answers(link):
    for method in ("HEAD", "POST"):
        lane, django = both(method, "/l/Ab3dE5gH")
        assert lane == django


def test_paths_under_the_prefixes_that_no_route_names_go_to_djangos_resolver(twilio):
    for path in ("/webhooks/", "/webhooks/twlo/x", "/webhooks/nope/x/status", "/webhooks/twlo/a/b/status"):
        lane, django = both("POST", path)
        assert lane == django
        assert lane[0][0] == "404 Not Found"


def test_other_paths_are_djangos(db):
    assert not LANE_PREFIX.match("/message")
    assert call(wsgi.application, "GET", "/message/1") == call(wsgi.django_application, "GET", "/message/1")


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/twlo/tok/status",
        "/webhooks/twlowa/tok/status",
        "/webhooks/twlo/tok/inbound",
        "/webhooks/twlowa/tok/inbound",
        "/webhooks/gswa/tok/events",
        "/webhooks/sendbulk/tok/dlr",
        "/l/Ab3dE5gH",
        "/l/a/b",
    ],
)
def test_each_route_names_the_view_the_urlconf_names(path):
    matched = [(pattern.fullmatch(path), view) for pattern, view in routes() if pattern.fullmatch(path)]
    assert len(matched) == 1
    found, view = matched[0]
    resolved = resolve(path)
    assert resolved.func is view
    assert resolved.kwargs == found.groupdict()


def test_every_url_under_the_prefixes_has_a_route():
    """A webhook added to the URLconf but not to routes() would still work (the resolver), only
    slower: this names it."""
    from django.urls import get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield "/" + prefix + str(pattern.pattern), pattern.callback

    views = {view for _, view in routes()}
    under = [(route, view) for route, view in walk(get_resolver().url_patterns) if LANE_PREFIX.match(route)]
    assert under and all(view in views for _, view in under), under


@pytest.mark.skipif(connection.vendor != "postgresql", reason="kills a PostgreSQL connection")
def test_a_callback_on_a_connection_postgresql_dropped_is_taken_on_a_new_one(twilio, monkeypatch):
    """Production keeps connections (DATABASE_CONN_MAX_AGE) and the lane skips their health check:
    a connection that died between two callbacks costs the second one a retry, never a 500."""
    from django.db import connections

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.close()  # the next one is opened with these
    path, body, signature = signed_status(twilio)
    call(wsgi.application, "POST", path, body, FORM, HTTP_X_TWILIO_SIGNATURE=signature)  # the connection is kept
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    status, _, _ = call(wsgi.application, "POST", path, body, FORM, HTTP_X_TWILIO_SIGNATURE=signature)
    assert status == "200 OK"
    assert ReceivedEvent.objects.count() == 2
    assert connection.connection.info.backend_pid != pid


# The plain lane (fast_lane.PlainLane) answers the routes' usual methods itself: the same hooks of the
# same middleware, without Django's handler. Its answers are compared with Django's above; these
# cover what only other settings, hosts and faults show. Each test builds both applications under
# its settings (middleware read them once, when the application is built).


def fresh() -> tuple:
    from django.core.handlers.wsgi import WSGIHandler

    from messaging_site.fast_lane import FastLane

    django = WSGIHandler()
    return FastLane(django), django


def both_fresh(method: str, path: str, body: bytes = b"", content_type: str = "", **headers) -> tuple:
    lane, django = fresh()
    answers = []
    for application in (lane, django):
        answers.append(call(application, method, path, body, content_type, **headers))
        answers.append(ReceivedEvent.objects.count() + LinkClick.objects.count())
        ReceivedEvent.objects.all().delete()
        LinkClick.objects.all().delete()
    return answers[:2], answers[2:]


def served_fast_lane():
    """The FastLane inside the application gunicorn serves (the API's lane wraps it)."""
    from messaging_site.fast_lane import FastLane

    application = wsgi.application
    while not isinstance(application, FastLane):
        application = application.application
    return application


def test_the_plain_lane_takes_the_hot_requests_and_leaves_the_rest():
    lane = served_fast_lane().plain
    assert lane.layers is not None, "a machine middleware the plain lane cannot run: see fast_lane.OWN_CALL"
    factory = RequestFactory()
    taken = [("post", "/webhooks/twlo/tok/status"), ("post", "/webhooks/gswa/tok/events"), ("get", "/l/Ab3dE5gH")]
    for method, path in taken:
        assert lane.route(getattr(factory, method)(path)) is not None, path
    assert lane.route(factory.head("/l/Ab3dE5gH")) is not None
    for request in (
        factory.get("/webhooks/twlo/tok/status"),  # Django's 405
        factory.post("/l/Ab3dE5gH"),  # CSRF, then 405
        factory.get("/l/Ab3dE5gH", HTTP_COOKIE="csrftoken=bad"),  # the CSRF layer renews a bad cookie
        factory.post("/webhooks/nope/tok/status"),  # the URL resolver's 404
    ):
        assert lane.route(request) is None, request


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:8000", "[::1"])
def test_a_host_not_allowed_is_refused_as_django_refuses_it(twilio, link, settings, host, caplog):
    settings.ALLOWED_HOSTS = ["shop.example"]
    path, body, signature = signed_status(twilio)
    lane, django = both_fresh("POST", path, body, FORM, HTTP_X_TWILIO_SIGNATURE=signature, HTTP_HOST=host)
    assert lane == django
    assert lane[0][0] == "400 Bad Request" and lane[1] == 0
    redirect_lane, redirect_django = both_fresh("GET", "/l/Ab3dE5gH", HTTP_HOST=host)
    assert redirect_lane == redirect_django and redirect_lane[0][0] == "400 Bad Request"
    assert any(r.name == "django.security.DisallowedHost" for r in caplog.records)


def test_https_settings_give_the_same_redirect_and_headers(twilio, link, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    path, body, signature = signed_status(twilio)
    lane, django = both_fresh("GET", "/l/Ab3dE5gH")  # plain HTTP: sent to HTTPS, not counted
    assert lane == django
    assert lane[0][0] == "301 Moved Permanently" and lane[1] == 0
    lane, django = both_fresh("GET", "/l/Ab3dE5gH", HTTP_X_FORWARDED_PROTO="https")
    assert lane == django
    assert lane[0][0] == "302 Found" and lane[1] == 1
    headers = dict(lane[0][1])
    assert headers["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    settings.PUBLIC_BASE_URL = "https://testserver"
    path, body, signature = signed_status(twilio)
    lane, django = both_fresh(
        "POST", path, body, FORM, HTTP_X_TWILIO_SIGNATURE=signature, HTTP_X_FORWARDED_PROTO="https"
    )
    assert lane == django
    assert lane[0][0] == "200 OK" and lane[1] == 1
    assert "Strict-Transport-Security" in dict(lane[0][1])


def test_a_fault_in_the_view_answers_500_and_is_logged_as_django_logs_it(twilio, caplog):
    """A channel whose stored credentials cannot be decrypted (a wrong CREDENTIALS_KEY): a real fault."""
    path, body, signature = signed_status(twilio)
    with connection.cursor() as cursor:  # as stored, past the field's encryption
        cursor.execute(f"UPDATE {Channel._meta.db_table} SET credentials = %s WHERE id = %s", ["gAAAAnot", twilio.pk])
    from providers import webhook_channels

    webhook_channels._kept.clear()
    caplog.set_level("ERROR", logger="django.request")
    lane, django = both_fresh("POST", path, body, FORM, HTTP_X_TWILIO_SIGNATURE=signature)
    assert lane[0][0] == django[0][0] == "500 Internal Server Error"
    assert lane[0][1] == django[0][1]
    assert lane[1] == django[1] == 0
    errors = [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"]
    assert len(errors) == 2 and all(r.exc_info for r in errors)


def test_a_request_with_cookies_gets_djangos_answer_and_new_csrf_cookie(link):
    lane, django = both_fresh("GET", "/l/Ab3dE5gH", HTTP_COOKIE="csrftoken=bad!")
    assert lane[0][0] == django[0][0] == "302 Found"
    assert lane[1] == django[1] == 1
    assert [name for name, _ in lane[0][1]] == [name for name, _ in django[0][1]]


@pytest.mark.parametrize(
    "query",
    [b"", b"a=1&a=2&b=", b"x+y=%C3%A9t%C3%A9&&=&c", b"bad=%ff%fe\xff", b"k=" + b"v" * 50, "é=ü".encode()],
)
def test_the_lanes_form_reading_gives_djangos_querydict(query):
    from django.http import QueryDict

    from messaging_site.fast_lane import FormDict

    for encoding in (None, "utf-8", "iso-8859-1"):
        ours, djangos = FormDict(query, encoding=encoding), QueryDict(query, encoding=encoding)
        assert list(ours.lists()) == list(djangos.lists()) and ours.encoding == djangos.encoding
        assert not ours._mutable and FormDict(query, mutable=True)._mutable


def test_the_lanes_form_reading_refuses_too_many_fields_as_django_does(settings):
    from django.core.exceptions import TooManyFieldsSent

    from messaging_site.fast_lane import FormDict

    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    with pytest.raises(TooManyFieldsSent):
        FormDict(b"a=1&b=2&c=3&d=4")


def test_with_debug_on_the_query_log_starts_afresh_with_each_plain_request(link, settings):
    """request_started's reset_queries, which the plain lane does itself (DEBUG keeps a query log)."""
    from django.test.utils import CaptureQueriesContext

    settings.DEBUG = True
    lane, _ = fresh()
    with CaptureQueriesContext(connection):
        connection.queries_log.extend([{"sql": "old", "time": "0"}] * 3)
        status, _, _ = call(lane, "GET", "/l/Ab3dE5gH", HTTP_USER_AGENT="Mozilla/5.0")
        assert status == "302 Found"
        assert all(query["sql"] != "old" for query in connection.queries)
