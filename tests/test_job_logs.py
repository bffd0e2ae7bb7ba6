"""Every job run logs start and end lines with its campaign, claim and channel, as key=value or JSON,
and a credential never appears in a line, whatever logged it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from campaigns.models import Campaign, OutboundMessage
from campaigns.pipeline.jobs import reconcile
from messaging_site.logs import FieldsFormatter, job_log, text_value
from tests import test_twilio_support as support
from tests.test_environment import BASE_ENV

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel


@pytest.fixture
def logs(caplog):
    """Everything logged at DEBUG and up (the HTTP helper's request bodies included), as the
    production formatter writes it: text lines, and the same records as JSON lines."""
    caplog.set_level(logging.DEBUG)

    def lines(json_lines: bool = False) -> list[str]:
        formatter = FieldsFormatter(json_lines=json_lines)
        return [formatter.format(record) for record in caplog.records]

    caplog.lines = lines
    return caplog


def fields_of(caplog, job: str, event: str) -> list[dict]:
    return [
        record.fields
        for record in caplog.records
        if getattr(record, "fields", {}).get("job") == job and record.getMessage() == f"{job} {event}"
    ]


def test_a_campaign_run_logs_its_jobs_and_each_claim_with_the_ids(logs, make_twilio_channel, make_contact, make_list):
    channel = make_twilio_channel()
    people = make_list("Ops", [make_contact(f"+44791112{n:04d}", f"P{n}") for n in range(3)])
    campaign = Campaign.objects.create(name="Logged", channel=channel, text="Hi {{ name }}")
    campaign.lists.set([people])
    campaign.launch()
    support_worker_run()

    [fan_out_end] = fields_of(logs, "fan_out", "finished")
    assert fan_out_end["campaign"] == campaign.pk and fan_out_end["count"] == 3
    assert fields_of(logs, "fan_out", "started") == [{"job": "fan_out", "campaign": campaign.pk, "rq_job": ANY_ID}]
    dispatch_ends = fields_of(logs, "dispatch_campaign", "finished")
    assert dispatch_ends and all(f["campaign"] == campaign.pk for f in dispatch_ends)
    assert sum(f.get("sent", 0) for f in dispatch_ends) == 3
    [claim_end] = fields_of(logs, "claim", "finished")
    token = claim_end["claim"]
    assert claim_end["channel"] == channel.pk and claim_end["campaign"] == campaign.pk
    assert claim_end["sent"] == 3 and claim_end["duration_ms"] >= 0
    assert len(token) == 36  # the claim token, as the rows carried it

    text = "\n".join(logs.lines())
    assert "claim finished job=claim rq_job=" in text
    assert f"claim={token} channel={channel.pk} campaign={campaign.pk} messages=3 sent=3 duration_ms=" in text
    assert support.AUTH_TOKEN not in text  # the HTTP helper logged every request, redacted
    for line in logs.lines(json_lines=True):
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry)
        assert support.AUTH_TOKEN not in line
    claim_json = [json.loads(line) for line in logs.lines(json_lines=True) if '"claim finished"' in line]
    assert claim_json[0]["claim"] == token and claim_json[0]["sent"] == 3


def test_a_single_message_job_logs_the_message_and_its_outcome(logs, make_twilio_channel):
    message = OutboundMessage.send_one(channel=make_twilio_channel(), to="+447911123456", text="Hi")
    support_worker_run()

    [end] = fields_of(logs, "send_messages", "finished")
    assert end["messages"] == 1 and end["first_message"] == message.pk and end["sent"] == 1
    [claim] = fields_of(logs, "claim", "finished")
    assert "campaign" not in claim and claim["sent"] == 1


def test_a_reconciler_run_logs_start_and_end_with_its_counts(logs):
    reconcile()
    [start] = fields_of(logs, "reconcile", "started")
    [end] = fields_of(logs, "reconcile", "finished")
    assert start == {"job": "reconcile"}
    assert end["released"] == 0 and end["expired"] == 0 and isinstance(end["duration_ms"], int)


def test_a_failing_job_logs_a_failure_line_with_its_ids_and_the_traceback(logs):
    log = logging.getLogger("campaigns.pipeline.jobs")
    with pytest.raises(RuntimeError), job_log(log, "dispatch_campaign", campaign=7) as outcome:
        outcome["sent"] = 2
        raise RuntimeError("boom")
    [failed] = fields_of(logs, "dispatch_campaign", "failed")
    assert failed["campaign"] == 7 and failed["sent"] == 2 and failed["error"] == "RuntimeError"
    [line] = [line for line in logs.lines() if "dispatch_campaign failed" in line]
    assert "campaign=7 sent=2" in line and "error=RuntimeError" in line
    assert "Traceback" in line and 'RuntimeError("boom")' in line


def test_a_credential_in_any_message_or_field_is_redacted_in_both_formats():
    secret = "tok-very-secret-123"
    record = logging.LogRecord(
        "providers.twilio", logging.WARNING, __file__, 1, "posting auth_token=%s", (secret,), None
    )
    record.fields = {"job": "claim", "body": f"To=%2B44&password={secret}"}
    for json_lines in (False, True):
        line = FieldsFormatter(json_lines=json_lines).format(record)
        assert secret not in line
        assert "***" in line


def test_values_with_spaces_are_quoted_in_text_lines():
    assert text_value("plain") == "plain"
    assert text_value("two words") == '"two words"'
    assert text_value('a "quote"') == '"a \\"quote\\""'
    assert text_value(1.23456) == "1.235"


@pytest.mark.parametrize(("log_format", "expected"), [("json", '{"time": '), ("text", " INFO ops.test hello ")])
def test_log_format_from_the_environment_chooses_json_or_text_lines(log_format, expected):
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('ops.test').info('hello', extra={'fields': {'campaign': 3, 'claim': 'abc'}})"
    )
    env = {**BASE_ENV, "LOG_FORMAT": log_format}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(expected) if log_format == "json" else expected in line
    if log_format == "json":
        assert json.loads(line)["campaign"] == 3 and json.loads(line)["claim"] == "abc"
    else:
        assert line.endswith(" hello campaign=3 claim=abc")


class _AnyId:
    __hash__ = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) > 10


ANY_ID = _AnyId()


def support_worker_run() -> None:
    from tests.conftest import run_worker

    run_worker()
