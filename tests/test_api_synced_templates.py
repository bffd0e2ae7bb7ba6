"""The API keeps taking template ids, and once a channel's templates have been synced answers 400 for an
id the channel does not list or one not approved (one message and bulk alike); before any sync the
provider's own answer decides, as before syncing existed."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, OutboundMessage
from campaigns.whatsapp.sync import sync_templates
from providers.fakes.templates import TWILIO_ORDER_UPDATE, TWILIO_REJECTED
from tests import test_twilio_support as support
from tests.test_api_message import api_key, api_user, call, errors  # noqa: F401

pytestmark = pytest.mark.django_db
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
ANN, BOB = "+14155550123", "+14155550124"
UNKNOWN = "HX" + "a" * 32


def template(template_id: str) -> dict:
    return {"id": template_id, "variables": {"1": "Ann", "2": "A-1042"}}


def one(call, channel, template_id: str):  # noqa: F811
    body = {"provider": "twlowa", "channel_key": channel.channel_key, "to": ANN, "template": template(template_id)}
    return call("POST", "/message", body)


def test_any_id_goes_before_a_sync_and_only_listed_approved_ones_after(call, make_twilio_channel):  # noqa: F811
    whatsapp = make_twilio_channel("twlowa")
    assert one(call, whatsapp, UNKNOWN)[0] == 200  # nothing known yet: the provider will say
    sync_templates(whatsapp)
    status, answer, _ = one(call, whatsapp, UNKNOWN)
    assert status == 400, answer
    assert errors(answer)[0].startswith(
        f"template.id: The WhatsApp template {UNKNOWN} is not one of the 3 templates Twilio WhatsApp lists for "
        f"{whatsapp.name!r} (synced "
    )
    status, answer, _ = one(call, whatsapp, TWILIO_REJECTED)
    assert status == 400 and "is rejected at Twilio WhatsApp, not approved: Promotional content" in errors(answer)[0]
    assert one(call, whatsapp, TWILIO_ORDER_UPDATE)[0] == 200
    assert OutboundMessage.objects.count() == 2


def test_a_bulk_job_on_an_unapproved_template_is_refused(call, make_twilio_channel):  # noqa: F811
    whatsapp = make_twilio_channel("twlowa")
    sync_templates(whatsapp)
    body = {"provider": "twlowa", "channel_key": whatsapp.channel_key, "recipients": [{"to": ANN}, {"to": BOB}]}
    status, answer, _ = call("POST", "/messages/bulk", {**body, "template": template(TWILIO_REJECTED)})
    assert status == 400 and errors(answer)[0].startswith("template.id: The WhatsApp template “flash_offer (en)”")
    assert not Campaign.objects.exists()
    assert call("POST", "/messages/bulk", {**body, "template": template(TWILIO_ORDER_UPDATE)})[0] == 200
