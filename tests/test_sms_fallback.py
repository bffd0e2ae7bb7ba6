"""SMS fallback of WhatsApp campaigns (campaigns/whatsapp/fallback.py): real RQ workers, the loopback
fakes calling our live server back, and the receipts applied by the receiving worker.

On SQLite the live server's writes (the fakes' callbacks) and the worker's must not overlap: the
tests poll read-only until the callbacks they expect arrived, then run the worker.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from campaigns.admin.campaign_form import CampaignForm
from campaigns.analytics import campaign_analytics
from campaigns.models import Campaign, NotOnWhatsApp, OutboundMessage
from campaigns.pipeline import sending
from campaigns.receiving import apply_batch
from campaigns.reports.progress import snapshot
from campaigns.whatsapp.fallback import Reason, after_failures, send_late_fallbacks
from contacts.models import Contact, Suppression
from providers.events import DeliveryState, ReceiptEvent, take
from providers.fakes.server import Behaviour
from providers.gupshup.fake import FakeGupshup, GupshupConfig
from providers.models import Channel
from tests import test_twilio_support as support
from tests.conftest import run_worker

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
Status = OutboundMessage.Status
ANN, BOB, CAT, DAN = "+447700900101", "+447700900102", "+447700900103", "+447700900104"
TEMPLATE = {"id": "tpl-7", "variables": {"Body": {"1": "{{ first_name }}"}}}
FALLBACK_TEXT = "Hi {{ first_name }}, our spring sale starts Saturday."


@pytest.fixture
def gupshup():
    with FakeGupshup(behaviour=Behaviour(callback_delay=0.02)) as fake:
        yield fake


@pytest.fixture
def whatsapp(gupshup, live_server) -> Channel:
    channel = Channel.objects.create(
        name="Gupshup WhatsApp",
        provider="gswa",
        sender="+15550001111",
        credentials={"apikey": "fb-key", "app_name": "fb-app"},
        api_base_url=gupshup.base_url,
        rate_limit=100,
    )
    callback = f"{live_server.url}/webhooks/gswa/{channel.webhook_token}/events"
    gupshup.config = GupshupConfig(apikey="fb-key", app_name="fb-app", callback_url=callback)
    return channel


@pytest.fixture
def sms(make_twilio_channel, fake_twilio, live_server, settings) -> Channel:
    settings.PUBLIC_BASE_URL = live_server.url
    fake_twilio.send_callbacks = True
    return make_twilio_channel("twlo", name="Twilio SMS")


def audience(*numbers: str) -> list[Contact]:
    names = {ANN: "Ann Lee", BOB: "Bob Kay", CAT: "Cat Moss", DAN: "Dan Roe"}
    return [Contact.objects.create(phone=n, name=names[n]) for n in numbers]


def whatsapp_campaign(make_list, channel: Channel, fallback: Channel | None, contacts, **fields) -> Campaign:
    campaign = Campaign.objects.create(
        name="Spring sale",
        channel=channel,
        provider_template=TEMPLATE,
        fallback_channel=fallback,
        fallback_text=FALLBACK_TEXT if fallback else "",
        **fields,
    )
    campaign.lists.add(make_list(f"List {Campaign.objects.count()}", contacts))
    return campaign


def read_only_until(check: Callable[[], bool], seconds: float = 15.0) -> None:
    """Wait, reading only, for callbacks to arrive (SQLite takes one writer at a time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("the callbacks did not arrive in time")


def worker_until(check: Callable[[], bool], runs: int = 20) -> None:
    """Run the worker until ``check`` holds (a dispatch job may hand over to a later one), callbacks held."""
    for _ in range(runs):
        run_worker()
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not get there")


def reached(number: str) -> list[str]:
    """What reached ``number``: the channels whose message to it ended delivered or read."""
    return sorted(
        OutboundMessage.objects.filter(to=number, status__in=[Status.DELIVERED, Status.READ]).values_list(
            "channel__provider", flat=True
        )
    )


# --- the campaign form ---------------------------------------------------------------------------


def form_for(channel: Channel, **fields) -> CampaignForm:
    data = {"name": "Spring", "channel": channel.pk, "text": "Hello", "track_links": "on"}
    data.update({k: (v.pk if isinstance(v, Channel) else v) for k, v in fields.items()})
    return CampaignForm(data=data)


def test_the_form_takes_an_sms_channel_and_a_text_for_a_whatsapp_campaign(db):
    whatsapp = Channel.objects.create(name="WA", provider="gswa", sender="+15550001111")
    sms = Channel.objects.create(name="Texts", provider="twlo", sender="+15005550006")
    form = form_for(whatsapp, fallback_channel=sms, fallback_text=" Hi {{ first_name }} ", fallback_after="30")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["fallback_text"] == "Hi {{ first_name }}"
    assert form.cleaned_data["fallback_after"] == 30


def test_the_form_names_the_field_and_the_value_it_refuses(db):
    whatsapp = Channel.objects.create(name="WA", provider="gswa", sender="+15550001111")
    other_whatsapp = Channel.objects.create(name="WA two", provider="twlowa", sender="+15550001112")
    sms = Channel.objects.create(name="Texts", provider="twlo", sender="+15005550006")

    form = form_for(whatsapp, fallback_channel=other_whatsapp, fallback_text="Hi")
    assert not form.is_valid()
    assert form.errors["fallback_channel"] == [
        "fallback_channel: 'WA two' is a Twilio WhatsApp channel; the fallback goes by SMS, so choose an SMS channel."
    ]

    form = form_for(whatsapp, fallback_channel=sms, fallback_text="  ")
    assert not form.is_valid()
    assert form.errors["fallback_text"] == [
        "fallback_text: write the SMS that goes through 'Texts', or leave the fallback channel empty."
    ]

    form = form_for(whatsapp, fallback_text="Hi there")
    assert not form.is_valid()
    assert form.errors["fallback_channel"][0].startswith("fallback_channel: choose the SMS channel")

    form = form_for(whatsapp, fallback_channel=sms, fallback_text="Hi", fallback_after="0")
    assert not form.is_valid()
    assert form.errors["fallback_after"][0].startswith("fallback_after: 0 minutes; give 1 to 10080")

    form = form_for(sms, fallback_channel=sms, fallback_text="Hi")
    assert not form.is_valid()
    assert "sends SMS already" in form.errors["fallback_channel"][0]


# --- end to end: each recipient reached once ------------------------------------------------------


def test_each_recipient_gets_exactly_one_message_whatsapp_or_sms(
    gupshup, whatsapp, sms, fake_twilio, make_list, settings
):
    contacts = audience(ANN, BOB, DAN)
    gupshup.config.not_on_whatsapp.add(BOB)
    campaign = whatsapp_campaign(make_list, whatsapp, sms, contacts)
    campaign.launch()
    gupshup.hold_callbacks()  # each fake calls back once the worker is done (SQLite: one writer)
    worker_until(lambda: len(gupshup.sent) == 3)  # fan-out and the WhatsApp sends
    gupshup.release_callbacks()
    # Ann and Dan: enqueued, sent, delivered; Bob: enqueued, failed (1002).
    read_only_until(lambda: len(gupshup.callbacks) >= 3 + 3 + 2)
    assert {status for _, status in gupshup.callbacks} == {200}
    fake_twilio.hold_callbacks()
    worker_until(lambda: len(fake_twilio.received) >= 1)  # the receipts: Bob's failure makes his SMS, sent
    assert [request.form["To"] for request in fake_twilio.received] == [[BOB]]
    assert fake_twilio.received[0].form["Body"] == ["Hi Bob, our spring sale starts Saturday."]
    fake_twilio.release_callbacks()
    read_only_until(lambda: len(fake_twilio.callbacks) >= 2)  # sent, delivered
    run_worker()

    assert {n: reached(n) for n in (ANN, BOB, DAN)} == {ANN: ["gswa"], BOB: ["twlo"], DAN: ["gswa"]}
    whatsapp_to_bob = OutboundMessage.objects.get(campaign=campaign, to=BOB)
    assert (whatsapp_to_bob.status, whatsapp_to_bob.error_code) == (Status.FAILED, "1002")
    fallback = OutboundMessage.objects.get(fallback_for=whatsapp_to_bob)
    assert (fallback.fallback_campaign, fallback.fallback_reason, fallback.channel) == (
        campaign,
        Reason.NOT_ON_WHATSAPP,
        sms,
    )
    assert fallback.campaign is None  # the campaign's own figures stay WhatsApp's
    assert NotOnWhatsApp.objects.get().number == BOB

    # The campaign page counts the fallback apart; the export shows it beside Bob's WhatsApp message.
    figures = snapshot(campaign)
    assert figures["total"] == 3 and figures["parts"]["delivered"] == 2 and figures["parts"]["failed"] == 1
    assert figures["fallbacks"]["total"] == 1
    assert figures["fallbacks"]["text"].startswith("SMS fallbacks: 1 (1 delivered, 0 failed, 0 to go)")
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "boss@example.com", "pw"))
    answer = client.get(f"/admin/campaigns/campaign/{campaign.pk}/results.csv")
    rows = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode("utf-8-sig"))))
    header = rows[0]
    at = header.index("SMS fallback status")
    assert header[at + 1] == "SMS fallback reason"
    by_number = {row[0]: row for row in rows[1:]}
    assert by_number[BOB][at : at + 2] == ["delivered", "not_on_whatsapp"]
    assert by_number[ANN][at : at + 2] == ["", ""]
    assert header[-4] == "replies" and len(by_number[BOB]) == len(header)

    # "Did it work?": the funnel is WhatsApp's three messages, the fallback counted apart.
    found = campaign_analytics(campaign)
    steps = {step.key: step.number for step in found["funnel"]}
    assert (steps["sent"], steps["delivered"], found["counts"]["failed"]) == (3, 2, 1)
    fallbacks = found["fallbacks"]
    assert (fallbacks["went"], fallbacks["delivered"], fallbacks["failed"], fallbacks["to_go"]) == (1, 1, 0, 0)


def test_twilio_whatsapp_not_on_whatsapp_falls_back_to_sms(fake_twilio, sms, make_twilio_channel, make_list):
    channel = make_twilio_channel("twlowa", name="Twilio WhatsApp")
    fake_twilio.not_on_whatsapp.add(CAT)
    campaign = whatsapp_campaign(make_list, channel, sms, audience(ANN, CAT))
    campaign.provider_template = {"id": support.CONTENT_SID, "variables": {"1": "{{ first_name }}"}}
    campaign.save()
    campaign.launch()
    fake_twilio.hold_callbacks()
    worker_until(lambda: len(fake_twilio.received) == 2)
    fake_twilio.release_callbacks()
    read_only_until(lambda: len(fake_twilio.callbacks) >= 3)  # Ann: sent, delivered; Cat: failed 63003
    fake_twilio.hold_callbacks()
    worker_until(lambda: len(fake_twilio.received) == 3)  # the receipts make Cat's SMS, and it goes
    fake_twilio.release_callbacks()
    read_only_until(lambda: len(fake_twilio.callbacks) >= 5)  # Cat's SMS: sent, delivered
    run_worker()
    assert reached(ANN) == ["twlowa"] and reached(CAT) == ["twlo"]
    assert OutboundMessage.objects.get(campaign=campaign, to=CAT).error_code == "63003"
    assert NotOnWhatsApp.objects.get().error_code == "63003"


def test_a_whatsapp_message_refused_at_hand_over_as_not_on_whatsapp_falls_back_once(
    fake_twilio, sms, make_twilio_channel, make_list
):
    channel = make_twilio_channel("twlowa", name="Twilio WhatsApp")
    fake_twilio.errors[CAT] = (400, 63024, "Invalid message recipient")  # in the send answer, no receipt
    campaign = whatsapp_campaign(make_list, channel, sms, audience(ANN, CAT))
    campaign.provider_template = {"id": support.CONTENT_SID, "variables": {"1": "{{ first_name }}"}}
    campaign.save()
    campaign.launch()
    fake_twilio.hold_callbacks()
    worker_until(lambda: [CAT] in [request.form["To"] for request in fake_twilio.received])  # Cat's SMS, at once
    refused = OutboundMessage.objects.get(campaign=campaign, to=CAT)
    assert (refused.status, refused.error_code) == (Status.FAILED, "63024")
    fallback = OutboundMessage.objects.get(fallback_for=refused)
    assert (fallback.channel, fallback.fallback_reason) == (sms, Reason.NOT_ON_WHATSAPP)
    went = sorted(request.form["To"][0] for request in fake_twilio.received)
    assert went == [CAT, f"whatsapp:{ANN}", f"whatsapp:{CAT}"]  # Cat: the WhatsApp refused, then the SMS
    assert NotOnWhatsApp.objects.get().number == CAT
    after_failures([refused.pk])  # asked again (a late receipt for it): no second SMS
    assert OutboundMessage.objects.filter(fallback_campaign=campaign).count() == 1


# --- once, and never where WhatsApp may still arrive ---------------------------------------------


def sent_whatsapp_message(campaign: Campaign, to: str, status: str = Status.SENT, **fields) -> OutboundMessage:
    contact = Contact.objects.filter(phone=to).first()
    return OutboundMessage.objects.create(
        campaign=campaign,
        channel=campaign.channel,
        contact=contact,
        to=to,
        recipient_key=to,
        status=status,
        provider_message_id=fields.pop("provider_message_id", f"gs-{to}"),
        sent_at=fields.pop("sent_at", timezone.now()),
        **fields,
    )


@pytest.fixture
def quiet_campaign(db, make_list) -> Campaign:
    """A running WhatsApp campaign with an SMS fallback on the sandbox: receipts applied by hand."""
    whatsapp = Channel.objects.create(name="WA", provider="gswa", sender="+15550001111")
    sandbox = Channel.objects.create(name="Sandbox", provider="sandbox", sender="+15005550006", rate_limit=100)
    campaign = whatsapp_campaign(make_list, whatsapp, sandbox, audience(ANN, BOB, CAT))
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING, started_at=timezone.now())
    campaign.refresh_from_db()
    return campaign


def failed(message: OutboundMessage, code: str = "1002") -> ReceiptEvent:
    return ReceiptEvent(
        message.channel_id, message.provider_message_id, DeliveryState.FAILED, code, "Number does not exist"
    )


def test_a_duplicate_failure_receipt_makes_no_second_fallback(quiet_campaign):
    message = sent_whatsapp_message(quiet_campaign, BOB)
    take([failed(message), failed(message)])  # twice in one batch
    apply_batch()
    take([failed(message)])  # and again later (a provider retrying its callback)
    apply_batch()
    after_failures([message.pk])  # and asked directly
    assert OutboundMessage.objects.filter(fallback_for=message).count() == 1
    assert OutboundMessage.objects.filter(fallback_campaign=quiet_campaign).count() == 1


def test_analytics_count_the_fallback_apart_once_with_its_cost(quiet_campaign, worker, client, administrator):
    Channel.objects.filter(pk=quiet_campaign.fallback_channel_id).update(
        price_per_segment=Decimal("0.0500"), currency="GBP"
    )
    message = sent_whatsapp_message(quiet_campaign, BOB)
    take([failed(message), failed(message)])
    apply_batch()
    worker()  # the fallback goes through the sandbox
    fallback = OutboundMessage.objects.get(fallback_for=message)
    delivered = ReceiptEvent(fallback.channel_id, fallback.provider_message_id, DeliveryState.DELIVERED, "", "")
    take([delivered, delivered])
    apply_batch()
    take([delivered])
    apply_batch()

    found = campaign_analytics(quiet_campaign)
    assert (found["counts"]["failed"], found["counts"]["delivered"]) == (1, 0)  # WhatsApp's only
    fallbacks = found["fallbacks"]
    assert (fallbacks["went"], fallbacks["delivered"], fallbacks["failed"], fallbacks["to_go"]) == (1, 1, 0, 0)
    assert fallbacks["cost"] == {"currency": "GBP", "amount": Decimal("0.05")}

    client.force_login(administrator)
    page = client.get(f"/admin/campaigns/campaign/{quiet_campaign.pk}/change/").content.decode()
    cost = page[page.index('id="analytics-fallback-cost"') :][:600]
    assert "+ 0.05 GBP" in cost and "for 1 SMS fallback through Sandbox (1 segment)" in cost
    assert client.get(f"/admin/campaigns/campaign/{quiet_campaign.pk}/analytics.json").json()["fallbacks"]["cost"] == {
        "currency": "GBP",
        "amount": "0.05",
    }
    answer = client.get(f"/admin/campaigns/campaign/{quiet_campaign.pk}/analytics.csv")
    rows = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode("utf-8-sig"))))
    assert ["SMS fallbacks", "Sandbox", "delivered", "1"] in rows
    assert ["SMS fallbacks", "Sandbox", "cost (GBP)", "0.05"] in rows


def test_unknown_outcomes_and_other_failures_get_no_fallback(quiet_campaign):
    Campaign.objects.filter(pk=quiet_campaign.pk).update(fallback_after=5)
    long_ago = timezone.now() - timedelta(hours=2)
    sent_whatsapp_message(quiet_campaign, ANN, status=Status.UNKNOWN, sent_at=long_ago)
    blocked = sent_whatsapp_message(quiet_campaign, CAT)
    take([failed(blocked, code="1012")])  # opted out of WhatsApp: no SMS either
    apply_batch()
    send_late_fallbacks()
    assert not OutboundMessage.objects.filter(fallback_campaign=quiet_campaign).exists()
    assert not NotOnWhatsApp.objects.exists()


def test_an_opted_out_number_gets_no_fallback(quiet_campaign):
    message = sent_whatsapp_message(quiet_campaign, BOB)
    Contact.opt_out_phone(BOB, "STOP", source=Suppression.Source.REPLY, channel="WA")
    take([failed(message)])
    apply_batch()
    assert not OutboundMessage.objects.filter(fallback_campaign=quiet_campaign).exists()
    assert NotOnWhatsApp.objects.filter(number=BOB).exists()  # still learned


def test_not_delivered_in_time_gets_the_sms_once(quiet_campaign, worker):
    Campaign.objects.filter(pk=quiet_campaign.pk).update(fallback_after=30)
    now = timezone.now()
    late = sent_whatsapp_message(quiet_campaign, ANN, sent_at=now - timedelta(minutes=31))
    recent = sent_whatsapp_message(quiet_campaign, BOB, sent_at=now - timedelta(minutes=5))
    delivered = sent_whatsapp_message(quiet_campaign, CAT, status=Status.DELIVERED, sent_at=now - timedelta(hours=1))
    assert send_late_fallbacks() == {"campaigns": 1, "fallbacks": 1}
    assert send_late_fallbacks()["fallbacks"] == 0  # checked up to the cutoff: nothing new
    fallback = OutboundMessage.objects.get(fallback_campaign=quiet_campaign)
    assert (fallback.fallback_for, fallback.fallback_reason) == (late, Reason.NOT_DELIVERED_IN_TIME)
    assert not OutboundMessage.objects.filter(fallback_for__in=[recent, delivered]).exists()
    # Its failure receipt arriving afterwards makes no second one.
    take([failed(late)])
    apply_batch()
    assert OutboundMessage.objects.filter(fallback_campaign=quiet_campaign).count() == 1
    worker()
    fallback.refresh_from_db()
    assert fallback.status in (Status.SENT, Status.DELIVERED)
    assert fallback.body == FALLBACK_TEXT  # rendered at send time, as a single message is
    # A finished campaign checked past its end drops out of the periodic check.
    Campaign.objects.filter(pk=quiet_campaign.pk).update(
        status=Campaign.Status.COMPLETED, finished_at=now - timedelta(hours=1)
    )
    assert send_late_fallbacks() == {"campaigns": 0, "fallbacks": 0}


def test_cancelling_the_campaign_cancels_its_fallbacks_not_sent(quiet_campaign):
    message = sent_whatsapp_message(quiet_campaign, BOB, status=Status.FAILED, error_code="1002")
    after_failures([message.pk])
    fallback = OutboundMessage.objects.get(fallback_campaign=quiet_campaign)
    quiet_campaign.cancel("Sale postponed")
    fallback.refresh_from_db()
    assert fallback.status == Status.CANCELLED


# --- remembered numbers go straight to SMS --------------------------------------------------------


def test_a_number_known_off_whatsapp_goes_straight_to_sms_and_is_rechecked_after_30_days(
    db, make_list, worker, settings
):
    whatsapp = Channel.objects.create(name="WA", provider="gswa", sender="+15550001111", is_active=False)
    sandbox = Channel.objects.create(name="Sandbox", provider="sandbox", sender="+15005550006", rate_limit=100)
    NotOnWhatsApp.objects.create(number=BOB, learned_at=timezone.now() - timedelta(days=2), error_code="1002")
    NotOnWhatsApp.objects.create(number=CAT, learned_at=timezone.now() - timedelta(days=31), error_code="1002")
    campaign = whatsapp_campaign(make_list, whatsapp, sandbox, audience(ANN, BOB, CAT))
    campaign.launch()
    worker()  # the fan-out; the WhatsApp channel is switched off, so only the SMS goes
    by_number = {m.to: m for m in OutboundMessage.objects.filter(campaign=campaign)}
    assert (by_number[BOB].status, by_number[BOB].error_code) == (Status.CANCELLED, "not_on_whatsapp")
    assert by_number[ANN].status == by_number[CAT].status == Status.QUEUED  # Cat is tried on WhatsApp again
    fallback = OutboundMessage.objects.get(fallback_campaign=campaign)
    assert (fallback.to, fallback.fallback_for, fallback.fallback_reason) == (
        BOB,
        by_number[BOB],
        Reason.KNOWN_OFF_WHATSAPP,
    )
    assert fallback.status in (Status.SENT, Status.DELIVERED)  # sent by the worker, on the sandbox


def test_a_fallback_a_worker_has_claimed_is_not_sent_after_the_cancel(quiet_campaign):
    """A fallback claimed by a send job (not yet handed over) when staff cancel: it does not go."""
    message = sent_whatsapp_message(quiet_campaign, BOB, status=Status.FAILED, error_code="1002")
    after_failures([message.pk])
    fallback = OutboundMessage.objects.get(fallback_campaign=quiet_campaign)
    token = sending.claim(OutboundMessage.objects.filter(pk=fallback.pk), limit=10)
    assert token is not None
    quiet_campaign.cancel("Sale postponed")
    sending.send_claimed(token, sending.SendSummary())
    fallback.refresh_from_db()
    assert (fallback.status, fallback.provider_message_id, fallback.claim_token) == (Status.CANCELLED, "", None)
