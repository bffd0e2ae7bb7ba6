"""No log the project writes shows a credential or a webhook's token.

The rule itself (providers/redaction.py) on each form a secret takes, then the real output of each
writer: our formatter, the development server (`make run`), gunicorn as the README runs it, an RQ
worker, and the error e-mails to ADMINS.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import django_rq
import pytest
from django.core import mail
from django.test import RequestFactory, override_settings

from messaging_site.logs import FieldsFormatter
from providers.redaction import redact
from tests.test_make_run import free_port_block

BASE_DIR = Path(__file__).resolve().parent.parent
TOKEN = "Tok3nOfAGupshupChannel_xyz"


@pytest.mark.parametrize(
    ("text", "secret", "shown"),
    [
        ('{"auth_token": "abc def"}', "abc def", '{"auth_token": "***"}'),
        ('{"api_key": "K-123", "to": "+447911"}', "K-123", '{"api_key": "***", "to": "+447911"}'),
        ('{"password": "correct horse", "secret": "s3"}', "horse", '{"password": "***", "secret": "***"}'),
        ('{"token": 12345678}', "12345678", '{"token": ***}'),
        ("{'auth_token': 'abc', 'nested': {'password': \"it's\"}}", "it's", "'nested': {'password': \"***\"}"),
        (r'{"message": "body {\"auth_token\": \"a b\"}"}', "a b", r"{\"auth_token\": \"***\"}"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw", "Authorization: Basic ***"),
        ("Authorization: Bearer eyJhbGciOi.J9.x-y", "eyJhbG", "Authorization: Bearer ***"),
        ("('Authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9')", "eyJhbG", "'Bearer ***'"),
        ("headers={'Authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpw", "{'Authorization': '***'}"),
        ("GET /v1/x?key=AIzaSyA1b2&apikey=zz9&to=1 HTTP/1.1", "AIzaSy", "?key=***&apikey=***&to=1"),
        ("X-Api-Key: k_live_123", "k_live", "X-Api-Key: ***"),
        (f"POST /webhooks/gswa/{TOKEN}/events HTTP/1.1", TOKEN, "/webhooks/gswa/***/events"),
        (f"/webhooks/sendbulk/{TOKEN}/dlr?x=1", TOKEN, "/webhooks/sendbulk/***/dlr"),
        (f"StatusCallback=https%3A%2F%2Fx.io%2Fwebhooks%2Ftwlo%2F{TOKEN}%2Fstatus", TOKEN, "%2Ftwlo%2F***%2Fstatus"),
    ],
)
def test_each_form_of_a_secret_is_hidden(text, secret, shown):
    assert secret not in redact(text)
    assert shown in redact(text)


def test_what_is_not_a_secret_stays_readable():
    text = "claim=4f1c channel_key=ABC monkey=3 Basic authentication failed tokens=5 key 7 revoked"
    assert redact(text) == text


def test_the_formatter_hides_secrets_in_a_logged_dict_as_text_and_as_json():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent %s", ({"auth_token": "abc def"},), None)
    record.fields = {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}, "url": f"/webhooks/gswa/{TOKEN}/events"}
    for json_lines in (False, True):
        line = FieldsFormatter(json_lines=json_lines).format(record)
        assert "abc def" not in line and "dXNlcjpw" not in line and TOKEN not in line, line
    entry = json.loads(FieldsFormatter(json_lines=True).format(record))
    assert entry["message"] == "sent {'auth_token': '***'}"
    assert entry["url"] == "/webhooks/gswa/***/events"


# --- real log output ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A migrated SQLite site of its own (as on a server), with a Gupshup and a sendbulk channel."""
    var = tmp_path_factory.mktemp("var")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTEST_CURRENT_TEST")},
        "DJANGO_SETTINGS_MODULE": "messaging_site.settings",
        "LOCAL_ENV_FILE": "",
        "SECRET_KEY": "x" * 50,
        "DEBUG": "true",
        "VAR_DIR": str(var),
        "PYTHONUNBUFFERED": "1",
    }
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=BASE_DIR, timeout=180)
    create = (
        "from providers.models import Channel\n"
        "for provider in ('gswa', 'sendbulk'):\n"
        "    Channel.objects.create(name=provider, provider=provider, webhook_token=f'{provider}_' + 'T' * 20)\n"
    )
    subprocess.run([*manage, "shell", "-c", create], env=env, check=True, cwd=BASE_DIR, timeout=60)
    return {"env": env, "manage": manage, "var": var, "tokens": ["gswa_" + "T" * 20, "sendbulk_" + "T" * 20]}


def webhook_paths(site) -> list[str]:
    """A known token on each provider (answered 2xx or 4xx), and an unknown one (404, logged)."""
    gswa, sendbulk = site["tokens"]
    return [f"/webhooks/gswa/{gswa}/events", f"/webhooks/sendbulk/{sendbulk}/dlr", f"/webhooks/gswa/{TOKEN}/events"]


def call(base: str, path: str) -> int:
    request = urllib.request.Request(f"{base}{path}?apikey=Q1w2e3r4", data=b"{}", method="POST")
    request.add_header("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def serve(site, args: list[str], port: int, log: Path, ready: str) -> subprocess.Popen:
    out = log.open("wb")
    process = subprocess.Popen(args, env=site["env"], cwd=BASE_DIR, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while ready not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return process


def stop(process: subprocess.Popen) -> None:
    time.sleep(0.5)  # a server writes its request line after the answer
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)


def assert_redacted(output: str, site, expected_lines: int) -> None:
    for secret in [*site["tokens"], TOKEN, "Q1w2e3r4", "eyJhbGciOiJIUzI1NiJ9"]:
        assert secret not in output, output
    assert (
        output.count("/webhooks/gswa/***/events?apikey=***") + output.count("/webhooks/sendbulk/***/dlr?apikey=***")
        >= expected_lines
    ), output


def test_the_development_server_and_django_log_requests_without_tokens(site, tmp_path):
    port = free_port_block(1)
    log = tmp_path / "runserver.log"
    server = serve(site, [*site["manage"], "runserver", f"127.0.0.1:{port}", "--noreload"], port, log, "Quit the")
    try:
        statuses = [call(f"http://127.0.0.1:{port}", path) for path in webhook_paths(site)]
    finally:
        stop(server)
    output = log.read_text()
    assert 404 in statuses, statuses
    assert_redacted(output, site, expected_lines=3)
    assert '"POST /webhooks/gswa/***/events?apikey=*** HTTP/1.1" 404' in output  # the request line
    assert "WARNING django.request Not Found: /webhooks/gswa/***/events" in output  # Django's own


def test_gunicorn_as_the_readme_runs_it_logs_requests_without_tokens(site, tmp_path):
    readme = (BASE_DIR / "README.md").read_text()
    assert "gunicorn messaging_site.wsgi -c python:messaging_site.gunicorn_conf" in readme
    port = free_port_block(1)
    log = tmp_path / "gunicorn.log"
    args = [
        str(Path(sys.executable).parent / "gunicorn"),
        "messaging_site.wsgi",
        "-c",
        "python:messaging_site.gunicorn_conf",
        "-w",
        "1",
        "-b",
        f"127.0.0.1:{port}",
        "--control-socket",
        str(tmp_path / "gunicorn.ctl"),
    ]
    server = serve(site, args, port, log, "Booting worker")
    try:
        statuses = [call(f"http://127.0.0.1:{port}", path) for path in webhook_paths(site)]
    finally:
        stop(server)
    output = log.read_text()
    assert 404 in statuses, statuses
    assert_redacted(output, site, expected_lines=3)
    assert '"POST /webhooks/sendbulk/***/dlr?apikey=*** HTTP/1.1"' in output  # gunicorn's access line


def test_an_rq_worker_logs_jobs_and_their_failures_without_tokens(site):
    url = f"https://example.org/webhooks/sendbulk/{TOKEN}/dlr"
    queue = django_rq.get_queue("high")
    queue.enqueue("providers.redaction.redact", url)
    queue.enqueue("builtins.int", url)  # fails: ValueError quoting the address, traceback logged
    worker = subprocess.run(
        [*site["manage"], "rqworker", "high", "--burst"],
        env=site["env"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = worker.stdout + worker.stderr
    assert TOKEN not in output, output
    assert "providers.redaction.redact('https://example.org/webhooks/sendbulk/***/dlr')" in output, output
    assert "ValueError: invalid literal for int() with base 10: 'https://example.org/webhooks/sendbulk/***/dlr'" in (
        output
    )


@override_settings(ADMINS=[("Ops", "ops@example.org")], DEBUG=False)
def test_an_error_report_to_admins_hides_the_token():
    request = RequestFactory().post(
        f"/webhooks/gswa/{TOKEN}/events?apikey=Q1w2e3r4", HTTP_AUTHORIZATION="Bearer eyJhbGciOiJIUzI1NiJ9"
    )
    try:
        raise RuntimeError(f"could not handle {request.path}")
    except RuntimeError:
        logging.getLogger("django.request").error(
            "Internal Server Error: %s", request.path, exc_info=True, extra={"status_code": 500, "request": request}
        )
    [report] = mail.outbox
    html = report.alternatives[0][0] if report.alternatives else ""
    for text in (report.subject, report.body, html):
        assert TOKEN not in text and "Q1w2e3r4" not in text and "eyJhbGciOiJIUzI1NiJ9" not in text
    assert report.subject.endswith("Internal Server Error: /webhooks/gswa/***/events")
    assert "RuntimeError at /webhooks/gswa/***/events\ncould not handle /webhooks/gswa/***/events" in report.body
