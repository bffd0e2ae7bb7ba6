# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
"""The API refuses up front what the channel's provider would refuse, by the provider class's own
rules (the same ones the send pipeline applies): a 400 naming the field and the value, nothing
saved, instead of a 200 followed by a failed message."""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Conversation, OutboundMessage
from campaigns.pipeline.sending import send_messages
from contacts.models import Contact
from providers.base import MessageRefused, OutgoingMessage
from providers.models import Channel
from providers.registry import provider_for
from tests.test_api_message import api_key, api_user, call, errors  # noqa: F401

pytestmark = pytest.mark.django_db
CONTENT_SID = "HXb5b62575e6e4ff6129ad7c8efe1f983e"
IMG = "https://example.com/{}.jpg"


def make_channel(provider: str) -> Channel:
    return Channel.objects.create(
        name=f"{provider} {Channel.objects.count()}", provider=provider, sender="+15005550006"
    )


def message(provider: str, **fields) -> tuple[Channel, dict]:
    channel = make_channel(provider)
    return channel, {"provider": provider, "channel_key": channel.channel_key, "to": "+14155550123", **fields}


def refused(call, path: str, body: dict) -> list[str]:
    status, answer, _ = call("POST", path, body)
    assert status == 400, answer
    assert not OutboundMessage.objects.exists()
    assert not Campaign.objects.exists()
    assert not Contact.objects.exists()
    return errors(answer)


CASES = [
    pytest.param(
        "twlowa",
        {"image_urls": [IMG.format(1), IMG.format(2)]},
        "image_urls[0], image_urls[1]: Twilio WhatsApp takes at most 1 media URL(s) a message; this message has 2.",
        id="twlowa-two-images",
    ),
    pytest.param(
        "twlowa",
        {"video_url": "https://example.com/v.mp4", "file_url": "https://example.com/f.pdf"},
        "video_url, file_url: Twilio WhatsApp takes at most 1 media URL(s) a message; this message has 2.",
        id="twlowa-video-and-file",
    ),
    pytest.param(
        "twlo",
        {"text": "x" * 1601},
        "text: Twilio takes at most 1,600 characters; this message has 1,601",
        id="twlo-1601",
    ),
    pytest.param(
        "twlo",
        {"text": "😀" * 801},
        "text: Twilio takes at most 1,600 characters; this message has 1,602 (counted as Twilio does",
        id="twlo-emoji-count-twice",
    ),
    pytest.param(
        "twlowa",
        {"template": {"id": CONTENT_SID, "variables": {str(i): "v" for i in range(1, 102)}}},
        "template.variables: 101 variables; a WhatsApp template takes at most 100.",
        id="twlowa-101-variables",
    ),
    pytest.param(
        "gswa",
        {"image_url": IMG.format(1), "video_url": "https://example.com/v.mp4"},
        'image_url, video_url: Gupshup WhatsApp carries one media file per message; send one of "https://',
        id="gswa-two-media",
    ),
    pytest.param(
        "gswa",
        {"image_url": IMG.format(1), "template": {"id": "tpl", "variables": {"Body": {"1": "Ann"}}}},
        "image_url: a Gupshup template carries its media as template.variables.MEDIA_URL;",
        id="gswa-template-with-session-media",
    ),
    pytest.param(
        "gswa",
        {"image_url": IMG.format(1), "text": "c" * 1025},
        "text: with media the text is its caption, and WhatsApp captions hold at most 1,024 characters;",
        id="gswa-long-caption",
    ),
    pytest.param(
        "sendbulk",
        {"text": "   "},
        "text: an SMS needs text, not only spaces.",
        id="sendbulk-blank",
    ),
]


@pytest.mark.parametrize(("provider", "fields", "expected"), CASES)
def test_the_api_refuses_what_the_provider_would_refuse(call, provider, fields, expected):
    _, body = message(provider, **fields)
    found = refused(call, "/message", body)
    assert any(m.startswith(expected) for m in found), found


@pytest.mark.parametrize(("provider", "fields", "expected"), CASES)
def test_a_bulk_job_is_refused_by_the_same_rules(call, provider, fields, expected):
    _, body = message(provider, **fields)
    body.pop("to")
    body["recipients"] = [{"to": "+14155550123"}, {"to": "+14155550124"}]
    found = refused(call, "/messages/bulk", body)
    assert found[0].startswith(expected), found  # shared by every recipient: said once


@pytest.mark.parametrize(("provider", "fields", "expected"), CASES)
def test_the_pipeline_refuses_by_the_very_same_rules(provider, fields, expected, worker):
    """One rule set: the message the API refused, had it been queued, fails in the worker with the
    same sentence (in the provider's field names) and the provider is never called."""
    channel = make_channel(provider)
    channel.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": "t", "apikey": "k", "app_name": "a"}
    channel.credentials |= {"partner_id": "p"}
    channel.api_base_url = "http://127.0.0.1:9/"  # nothing listens: a call would not be refused but unknown
    channel.save()
    media = tuple(fields.get(k) for k in ("image_url", "video_url", "file_url") if fields.get(k))
    media += tuple(fields.get("image_urls", ()))
    queued = OutboundMessage.send_one(
        channel=channel, to="+14155550123", text=fields.get("text", ""), media_urls=list(media),
        template=fields.get("template"), enqueue=False,
    )  # fmt: skip
    send_messages([queued.pk])
    queued.refresh_from_db()
    assert (queued.status, queued.error_code) == (OutboundMessage.Status.FAILED, "refused")
    rule = expected.split(": ", 1)[1][:40]
    assert rule in queued.error_message


def test_a_gupshup_template_part_over_its_share_of_100_variables_is_refused(call):
    body_values = {str(i): "v" for i in range(1, 91)}
    _, body = message("gswa", template={"id": "tpl", "variables": {"Body": body_values}})
    assert refused(call, "/message", body) == [
        "template.variables.Body: 90 variables; a template's Body takes at most 89."
    ]


def test_the_gupshup_provider_refuses_more_than_100_params():
    provider = provider_for(make_channel("gswa"))
    variables = {"MEDIA_URL": IMG.format(1), "Header": {"1": "h"}, "Body": {str(i): "v" for i in range(1, 101)}}
    problems = provider.problems(OutgoingMessage(1, "+14155550123", template={"id": "tpl", "variables": variables}))
    assert [str(p) for p in problems] == ["template.variables: 101 variables; a WhatsApp template takes at most 100."]
    variables["Body"].pop("100")
    assert provider.problems(OutgoingMessage(1, "+14155550123", template={"id": "tpl", "variables": variables})) == []


def test_a_text_that_grows_past_the_limit_once_personalised_is_refused(call):
    _, body = message("twlo", text="x" * 1590 + " {{name}}", name="Alexandria Ocasio")
    assert refused(call, "/message", body) == [
        "text: Twilio takes at most 1,600 characters; this message has 1,608 "
        "(counted as Twilio does, in UTF-16 code units: an emoji counts as 2)."
    ]


def test_a_bulk_job_names_only_the_recipients_whose_values_break_the_limit(call):
    _, body = message("twlo", text="x" * 1590 + " {{order}}")
    body.pop("to")
    body["recipients"] = [
        {"to": "+14155550123", "order": "A-1"},
        {"to": "+14155550124", "order": "A-1000000001"},
        {"to": "+14155550125", "order": "A-2"},
    ]
    assert refused(call, "/messages/bulk", body) == [
        "recipients (+14155550124): text: Twilio takes at most 1,600 characters; this message has 1,603 "
        "(counted as Twilio does, in UTF-16 code units: an emoji counts as 2)."
    ]


def test_exactly_at_the_limits_is_accepted(call):
    for provider, fields in [
        ("twlo", {"text": "😀" * 800}),
        ("twlo", {"image_urls": [IMG.format(i) for i in range(10)], "text": "MMS"}),
        ("twlowa", {"video_url": "https://example.com/v.mp4", "text": "One video"}),
        ("twlowa", {"template": {"id": CONTENT_SID, "variables": {str(i): "v" for i in range(1, 101)}}}),
        ("gswa", {"image_url": IMG.format(1), "text": "c" * 1024}),
    ]:
        channel, body = message(provider, **fields)
        now = timezone.now()  # free-form WhatsApp needs the contact to have written within 24 hours
        Conversation.objects.create(channel=channel, phone=body["to"], last_message_at=now, last_inbound_at=now)
        status, answer, _ = call("POST", "/message", body)
        assert status == 200, (provider, answer)


def test_validate_raises_every_problem_at_once():
    provider = provider_for(make_channel("twlowa"))
    outgoing = OutgoingMessage(
        1, "+14155550123", text="x" * 1601, media_urls=(IMG.format(1), "ftp://example.com/2.jpg")
    )
    problems = provider.problems(outgoing)
    assert [problem.field for problem in problems] == ["text", "media_urls", "media_urls[1]"]
    with pytest.raises(MessageRefused) as refusal:
        provider.validate(outgoing)
    assert str(refusal.value) == "; ".join(str(problem) for problem in problems)
