"""The sendbulk gateway provider against its loopback fake, over real HTTP."""

from __future__ import annotations

import socket

import pytest
import requests

from campaigns.models import OutboundMessage
from campaigns.pipeline.sending import send_messages
from providers.base import ChannelError, MessageRefused, Outcome, OutgoingMessage
from providers.fakes.server import FakeResponse
from providers.models import Channel
from providers.sendbulk.fake import FakeSendbulk, SendbulkConfig
from providers.sendbulk.provider import SendbulkProvider

Status = OutboundMessage.Status
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def server():
    with FakeSendbulk() as server:
        yield server


@pytest.fixture
def fake(server):
    server.reset(SendbulkConfig(partner_id="7788", apikey="sb-key"))
    return server


@pytest.fixture
def sendbulk_channel(fake) -> Channel:
    return Channel.objects.create(
        name="Sendbulk",
        provider="sendbulk",
        sender="ACME_LTD",
        credentials={"partner_id": "7788", "apikey": "sb-key"},
        api_base_url=f"{fake.base_url}/api/services/",
        rate_limit=10_000,
    )


def messages(count: int, first_id: int = 1) -> list[OutgoingMessage]:
    return [OutgoingMessage(first_id + i, f"+2547{i:08d}", text=f"Hello {i}") for i in range(count)]


def send(channel: Channel, batch: list[OutgoingMessage]):
    return SendbulkProvider(channel).send_batch(batch)


# --- what we send ----------------------------------------------------------------------------


def test_a_batch_is_one_json_request_with_our_ids_as_clientsmsid(fake, sendbulk_channel):
    results = send(sendbulk_channel, messages(3, first_id=41))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert [r.message_id for r in results] == [41, 42, 43]
    assert len({r.provider_message_id for r in results}) == 3
    (request,) = fake.received
    assert request.path == "/api/services/sendbulk/"
    body = request.json()
    assert body["count"] == 3
    assert body["smslist"][0] == {
        "partnerID": "7788",
        "apikey": "sb-key",
        "pass_type": "plain",
        "clientsmsid": 41,
        "mobile": "254700000000",
        "message": "Hello 0",
        "shortcode": "ACME_LTD",
    }


def test_the_pipeline_hands_over_no_more_than_the_channels_batch_size(fake, sendbulk_channel):
    sendbulk_channel.batch_size = 20  # an older deployment
    sendbulk_channel.save()
    ids = [OutboundMessage.send_one(channel=sendbulk_channel, to=f"+2547{i:08d}", text="Hi").pk for i in range(45)]
    send_messages(ids)
    assert fake.batch_sizes == [20, 20, 5]
    assert OutboundMessage.objects.filter(status=Status.SENT).count() == 45


def test_the_batch_size_never_exceeds_a_thousand():
    channel = Channel(provider="sendbulk", batch_size=5000)
    assert SendbulkProvider(channel).batch_size() == 1000
    assert SendbulkProvider(Channel(provider="sendbulk")).batch_size() == 1000


def test_too_many_in_one_request_is_split_in_halves_until_it_fits(fake, sendbulk_channel):
    fake.config.max_batch = 20
    results = send(sendbulk_channel, messages(100))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 100
    assert [r.message_id for r in results] == list(range(1, 101))
    # 100 -> 50 -> 25 -> 13 fits; from then on no request is larger, so none is refused again.
    assert fake.batch_sizes[:4] == [100, 50, 25, 13]
    assert all(size <= 13 for size in fake.batch_sizes[3:])
    assert sum(fake.batch_sizes[3:]) == 100


def test_media_and_templates_are_refused_before_sending(sendbulk_channel):
    provider = SendbulkProvider(sendbulk_channel)
    with pytest.raises(MessageRefused, match="cannot send media"):
        provider.validate(OutgoingMessage(1, "+254700000001", text="x", media_urls=("https://a.test/x.png",)))
    with pytest.raises(MessageRefused, match="template"):
        provider.validate(OutgoingMessage(1, "+254700000001", template={"id": "t"}))


# --- per-message answers -----------------------------------------------------------------------


@pytest.mark.parametrize("code", [1001, 1002, 1003, 1009])
def test_a_permanent_code_fails_that_message_only(fake, sendbulk_channel, code):
    fake.config.number_codes["254700000001"] = code
    first, refused, third = send(sendbulk_channel, messages(3))
    assert (first.outcome, third.outcome) == (Outcome.ACCEPTED, Outcome.ACCEPTED)
    assert (refused.outcome, refused.error_code, refused.error_message) == (Outcome.FAILED, str(code), "Refused")


@pytest.mark.parametrize(("code", "retry_after"), [(1005, None), (1007, None), (4090, 300.0)])
def test_a_passing_gateway_problem_retries_that_message(fake, sendbulk_channel, code, retry_after):
    fake.config.number_codes["254700000000"] = code
    (result,) = send(sendbulk_channel, messages(1))
    assert (result.outcome, result.error_code, result.retry_after) == (Outcome.RETRY, str(code), retry_after)


def test_the_misspelt_respose_code_is_read_the_same(fake, sendbulk_channel):
    fake.config.misspell = True
    fake.config.number_codes["254700000001"] = 1003
    ok, refused = send(sendbulk_channel, messages(2))
    assert ok.outcome == Outcome.ACCEPTED and ok.provider_message_id
    assert (refused.outcome, refused.error_code) == (Outcome.FAILED, "1003")
    # The fake did answer with the misspelt key.
    raw = requests.post(f"{fake.base_url}/api/services/getbalance/", json={"partnerID": "7788", "apikey": "sb-key"})
    assert "respose-code" in raw.json() and "response-code" not in raw.json()


def test_answers_are_matched_by_clientsmsid_whatever_their_order(fake, sendbulk_channel, monkeypatch):
    def reversed_answers(request):
        items = request.json()["smslist"]
        answers = [
            {"response-code": 200, "messageid": f"M{i['clientsmsid']}", "clientsmsid": i["clientsmsid"]} for i in items
        ]
        return FakeResponse(200, {"responses": answers[::-1]})

    monkeypatch.setattr(fake, "send_bulk", reversed_answers)
    results = send(sendbulk_channel, messages(3, first_id=7))
    assert [(r.message_id, r.provider_message_id) for r in results] == [(7, "M7"), (8, "M8"), (9, "M9")]


def test_a_message_missing_from_the_answer_is_unknown(fake, sendbulk_channel, monkeypatch):
    answer = {"responses": [{"response-code": "200", "messageid": "M1", "clientsmsid": "1"}]}
    monkeypatch.setattr(fake, "send_bulk", lambda request: FakeResponse(200, answer))
    first, second = send(sendbulk_channel, messages(2))
    assert (first.outcome, first.provider_message_id) == (Outcome.ACCEPTED, "M1")
    assert (second.outcome, second.error_code) == (Outcome.UNKNOWN, "not_in_answer")


# --- whole-request answers ---------------------------------------------------------------------


@pytest.mark.parametrize("misspell", [False, True])
def test_an_unwrapped_invalid_credentials_answer_is_a_channel_error(fake, sendbulk_channel, misspell):
    fake.config.misspell = misspell
    sendbulk_channel.credentials = {"partner_id": "7788", "apikey": "wrong"}
    with pytest.raises(ChannelError, match="Invalid credentials") as raised:
        send(sendbulk_channel, messages(3))
    assert raised.value.code == "1006"


@pytest.mark.parametrize(("code", "credentials"), [(4091, {"apikey": "sb-key"}), (4092, {"partner_id": "7788"})])
def test_missing_partner_id_or_apikey_at_the_gateway_is_a_channel_error(fake, sendbulk_channel, code, credentials):
    sendbulk_channel.credentials = credentials
    with pytest.raises(ChannelError) as raised:
        send(sendbulk_channel, messages(1))
    assert raised.value.code == str(code)


@pytest.mark.parametrize("code", [1004, 4093])
def test_low_credit_or_unknown_account_for_the_whole_request_is_a_channel_error(fake, sendbulk_channel, code):
    fake.config.batch_code = code
    with pytest.raises(ChannelError) as raised:
        send(sendbulk_channel, messages(2))
    assert raised.value.code == str(code)


def test_an_unwrapped_passing_error_retries_the_whole_request(fake, sendbulk_channel):
    fake.config.batch_code = 4090
    results = send(sendbulk_channel, messages(3))
    assert {(r.outcome, r.error_code, r.retry_after) for r in results} == {(Outcome.RETRY, "4090", 300.0)}


def test_credit_running_out_mid_batch_keeps_what_went_and_retries_the_rest(fake, sendbulk_channel):
    fake.config.number_codes["254700000002"] = 1004
    results = send(sendbulk_channel, messages(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.RETRY]
    assert results[2].error_code == "1004"


def test_a_server_error_leaves_everything_unknown(fake, sendbulk_channel, monkeypatch):
    busy = FakeResponse(503, {"message": "busy"}, {"Retry-After": "12"})
    monkeypatch.setattr(fake, "send_bulk", lambda request: busy)
    results = send(sendbulk_channel, messages(2))
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.UNKNOWN, "http_503")}


def test_a_rate_limited_request_is_retried(fake, sendbulk_channel):
    fake.behaviour.rate_limit = 2
    results = send(sendbulk_channel, messages(3))
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.RETRY, "http_429")}


def test_a_base_url_that_is_not_a_sendbulk_api_is_a_channel_error(fake, sendbulk_channel):
    sendbulk_channel.api_base_url = f"{fake.base_url}/wrong/path"
    with pytest.raises(ChannelError, match="API base URL"):
        send(sendbulk_channel, messages(1))


def test_a_request_that_never_left_is_retried(sendbulk_channel):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sendbulk_channel.api_base_url = f"http://127.0.0.1:{port}/api/services"
    sendbulk_channel.enter_credentials(sendbulk_channel.credentials)  # a new address: credentials typed again
    results = send(sendbulk_channel, messages(2))
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.RETRY, "not_sent")}


def test_no_answer_in_time_makes_the_whole_batch_unknown(fake, sendbulk_channel, settings):
    settings.PROVIDER_READ_TIMEOUT = 0.2
    fake.behaviour.latency = 0.6
    results = send(sendbulk_channel, messages(2))
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.UNKNOWN, "no_answer")}


def test_an_unknown_outcome_is_not_resent_because_the_gateway_may_not_deduplicate():
    assert SendbulkProvider.deduplicates_by_our_id is False


# --- the channel ---------------------------------------------------------------------------------


def test_a_channel_without_an_api_base_url_is_refused_naming_it(sendbulk_channel):
    sendbulk_channel.api_base_url = ""
    with pytest.raises(ChannelError, match="api_base_url"):
        send(sendbulk_channel, messages(1))


def test_a_channel_without_a_sender_id_is_refused_naming_it(fake, sendbulk_channel):
    sendbulk_channel.sender = " "
    with pytest.raises(ChannelError, match="sender"):
        send(sendbulk_channel, messages(1))
    assert fake.received == []


def test_the_pipeline_pauses_a_channel_with_bad_credentials_and_keeps_its_messages(fake, sendbulk_channel):
    sendbulk_channel.credentials = {"partner_id": "7788", "apikey": "revoked"}
    sendbulk_channel.save()
    message = OutboundMessage.send_one(channel=sendbulk_channel, to="+254700000001", text="Hi")
    send_messages([message.pk])
    message.refresh_from_db()
    sendbulk_channel.refresh_from_db()
    assert message.status == Status.QUEUED
    assert "Invalid credentials" in sendbulk_channel.paused_reason


def test_check_credentials_reports_the_balance(fake, sendbulk_channel):
    assert SendbulkProvider(sendbulk_channel).check_credentials() == "Balance: 1520.50"
    assert fake.received[-1].path == "/api/services/getbalance/"
    assert fake.received[-1].json() == {"partnerID": "7788", "apikey": "sb-key"}


def test_check_credentials_says_when_they_are_wrong(fake, sendbulk_channel):
    sendbulk_channel.credentials = {"partner_id": "1", "apikey": "sb-key"}
    with pytest.raises(ChannelError, match="Invalid credentials"):
        SendbulkProvider(sendbulk_channel).check_credentials()


def test_the_apikey_never_appears_in_logs(fake, sendbulk_channel, caplog):
    caplog.set_level("DEBUG", logger="providers.http")
    send(sendbulk_channel, messages(1))
    assert "request body" in caplog.text
    assert "sb-key" not in caplog.text
