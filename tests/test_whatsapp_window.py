"""WhatsApp's 24-hour rule, up front: free-form text or media to a number that has not written to the
channel within 24 hours is a 409 naming the number and the rule, before anything is saved or sent;
a template always may go; SMS channels know no such rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.conversations.window import closed_numbers, free_text_refusal
from campaigns.models import Campaign, Conversation, OutboundMessage
from providers.models import Channel
from tests.test_api_message import api_key, api_user, call, errors  # noqa: F401

pytestmark = pytest.mark.django_db
ANN, BOB, CAT = "+14155550123", "+14155550124", "+14155550125"
CONTENT_SID = "HXb5b62575e6e4ff6129ad7c8efe1f983e"


def channel_of(provider: str) -> Channel:
    return Channel.objects.create(
        name=f"{provider} {Channel.objects.count()}", provider=provider, sender="+15005550006"
    )


def wrote(channel: Channel, number: str, hours_ago: float) -> None:
    at = timezone.now() - timedelta(hours=hours_ago)
    Conversation.objects.create(channel=channel, phone=number, last_message_at=at, last_inbound_at=at)


def post_message(call, channel: Channel, **fields):  # noqa: F811
    return call("POST", "/message", {"provider": channel.provider, "channel_key": channel.channel_key, **fields})


@pytest.mark.parametrize("provider", ["twlowa", "gswa"])
def test_free_text_to_a_number_that_never_wrote_is_a_409_naming_it_and_the_rule(call, provider):  # noqa: F811
    channel = channel_of(provider)
    status, answer, _ = post_message(call, channel, to=ANN, text="Hi there")
    assert status == 409, answer
    [problem] = errors(answer)
    assert problem.startswith("text: free-form WhatsApp (text or media) may only go within 24 hours")
    assert f"{ANN} has never written to it" in problem
    assert not OutboundMessage.objects.exists()


def test_media_alone_is_named_as_the_media(call):  # noqa: F811
    status, answer, _ = post_message(call, channel_of("twlowa"), to=ANN, image_url="https://example.com/a.jpg")
    assert status == 409 and errors(answer)[0].startswith("media_urls: free-form WhatsApp")


def test_within_24_hours_free_text_goes_and_after_it_does_not(call):  # noqa: F811
    channel = channel_of("twlowa")
    wrote(channel, ANN, hours_ago=23.5)
    wrote(channel, BOB, hours_ago=24.5)
    assert post_message(call, channel, to=ANN, text="Your order is ready")[0] == 200
    status, answer, _ = post_message(call, channel, to=BOB, text="Your order is ready")
    assert status == 409 and f"{BOB} last wrote at" in errors(answer)[0]


def test_a_template_may_always_go_and_sms_knows_no_window(call):  # noqa: F811
    whatsapp = channel_of("twlowa")
    template = {"id": CONTENT_SID, "variables": {"1": "Ann"}}
    assert post_message(call, whatsapp, to=ANN, template=template)[0] == 200
    assert post_message(call, channel_of("twlo"), to=ANN, text="Hi")[0] == 200


def test_the_window_is_per_channel(call):  # noqa: F811
    first, second = channel_of("twlowa"), channel_of("twlowa")
    wrote(first, ANN, hours_ago=1)
    assert post_message(call, first, to=ANN, text="Hi")[0] == 200
    assert post_message(call, second, to=ANN, text="Hi")[0] == 409


def test_a_bulk_job_of_free_text_names_the_recipients_outside_the_window(call):  # noqa: F811
    channel = channel_of("gswa")
    wrote(channel, ANN, hours_ago=2)
    body = {"provider": "gswa", "channel_key": channel.channel_key, "text": "Hi {{name}}"}
    body["recipients"] = [{"to": ANN, "name": "Ann"}, {"to": BOB, "name": "Bob"}, {"to": CAT, "name": "Cat"}]
    status, answer, _ = call("POST", "/messages/bulk", body)
    assert status == 409, answer
    [problem] = errors(answer)
    assert "2 of the 3 recipients have not written within 24 hours" in problem
    assert f"{BOB}, {CAT}." in problem and ANN not in problem
    assert not Campaign.objects.exists()
    wrote(channel, BOB, hours_ago=3)
    wrote(channel, CAT, hours_ago=4)
    assert call("POST", "/messages/bulk", body)[0] == 200


def test_the_checks_read_thousands_of_numbers_in_a_few_queries(django_assert_max_num_queries):
    channel = channel_of("twlowa")
    numbers = [f"+1415555{index:04d}" for index in range(5000)]
    wrote(channel, numbers[10], hours_ago=1)
    with django_assert_max_num_queries(3):
        closed = closed_numbers(channel, numbers)
    assert len(closed) == 4999 and numbers[10] not in closed
    assert free_text_refusal(channel_of("sendbulk"), ANN) == ""
