"""The suppression list: opt-outs kept by number, apart from the contact, and asked by every send path."""

from __future__ import annotations

import importlib
import json
import re
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from campaigns.admin.campaign import send_test
from campaigns.models import ApiKey, Campaign, OutboundMessage
from campaigns.pipeline.fanout import fan_out
from campaigns.pipeline.sending import send_messages
from contacts.importing import engine
from contacts.models import Contact, ContactImport, OptInRecord, Suppression
from providers.events import InboundEvent, receive_inbound
from providers.models import Channel

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status
ANN, BOB, CAT = "+14155550101", "+14155550102", "+14155550103"


@pytest.fixture
def api(administrator):
    """POST a JSON body with an API key; returns (status, answer)."""
    key = ApiKey.issue(administrator, name="shop")[1]
    client = Client()

    def post(path: str, body: dict) -> tuple[int, dict]:
        response = client.post(path, json.dumps(body), content_type="application/json", headers={"apikey": key})
        return response.status_code, json.loads(response.content)

    return post


def import_csv(tmp_path, text: str, name: str = "contacts.csv") -> ContactImport:
    path = tmp_path / name
    path.write_text(text)
    contact_import = ContactImport(file_name=path.name, stored_path=str(path), region="US")
    engine.open_import(contact_import)
    contact_import.save()
    return engine.run(contact_import, processes=1)


def reply(phone: str, text: str, channel=None) -> None:
    channel = channel or Channel.objects.get_or_create(name="Replies", defaults={"provider": "sandbox"})[0]
    receive_inbound([InboundEvent(channel.pk, phone, text)])


def stop(phone: str, channel=None) -> None:
    reply(phone, "Stop", channel)


def test_a_stop_reply_puts_the_number_on_the_list_with_its_source_and_channel(channel, make_contact):
    make_contact(ANN)
    stop(ANN, channel)
    row = Suppression.objects.get(number=ANN)
    assert (row.source, row.reason, row.channel) == ("reply", "Replied STOP", "Sandbox")
    assert Contact.objects.get(phone=ANN).opted_out_at == row.suppressed_at  # the mirror


def test_deleting_an_opted_out_contact_keeps_the_number_suppressed(make_contact):
    make_contact(ANN)
    stop(ANN)
    Contact.objects.filter(phone=ANN).delete()
    assert Suppression.objects.filter(number=ANN).exists()
    assert Contact(phone=ANN).save() is None and Contact.objects.get(phone=ANN).is_opted_out  # added again


def test_reimporting_a_deleted_opted_out_number_brings_it_back_opted_out(tmp_path, make_contact):
    make_contact(ANN)
    stop(ANN)
    Contact.objects.filter(phone=ANN).delete()
    result = import_csv(tmp_path, f"phone,name,opted out\n{ANN},Ann,no\n{BOB},Bob,\n")
    assert result.created == 2
    ann = Contact.objects.get(phone=ANN)
    assert ann.is_opted_out and ann.opt_out_reason == "Replied STOP"
    assert not Contact.objects.get(phone=BOB).is_opted_out


def test_the_import_preview_counts_a_suppressed_number_with_no_contact_as_new_and_staying_opted_out(tmp_path):
    Suppression.add([ANN], source="file", reason="From the old tool")
    path = tmp_path / "again.csv"
    path.write_text(f"phone,name\n{ANN},Ann\n")
    contact_import = ContactImport(file_name=path.name, stored_path=str(path), region="US")
    engine.open_import(contact_import)
    preview = engine.build_preview(contact_import)
    assert (preview["new"], preview["stay_opted_out"]) == (1, 1)


@pytest.mark.parametrize("chunk_rows", [20_000, 2])
def test_any_row_of_a_number_that_says_opted_out_wins_whatever_its_position(tmp_path, settings, chunk_rows):
    settings.CONTACT_IMPORT_CHUNK_ROWS = chunk_rows  # 2: the repeat is in a later chunk than the first row
    rows = f"phone,name,opted out\n{ANN},Ann,no\n{BOB},Bob,yes\n{CAT},Cat,\n{ANN},Ann again,yes\n{BOB},Bob again,no\n"
    result = import_csv(tmp_path, rows)
    assert (result.created, result.duplicates) == (3, 2)
    assert set(Suppression.objects.values_list("number", flat=True)) == {ANN, BOB}
    assert set(Contact.objects.filter(opted_out_at__isnull=False).values_list("phone", flat=True)) == {ANN, BOB}
    reasons = dict(result.rejections.values_list("row_number", "reason"))
    assert reasons[5] == f"duplicate of row 2 (same number {ANN}); row 2 kept, with this row's opt-out"


def test_an_import_never_lifts_a_suppression(tmp_path, make_contact):
    make_contact(ANN)
    stop(ANN)
    import_csv(tmp_path, f"phone,name,opted out\n{ANN},Ann,no\n")
    assert Contact.objects.get(phone=ANN).is_opted_out and Suppression.objects.filter(number=ANN).exists()


def test_post_message_to_a_suppressed_number_with_no_contact_is_409_naming_the_number_and_the_rule(api, channel):
    Suppression.add([ANN], source="file", reason="Unsubscribed in the old tool")
    status, answer = api(
        "/message", {"provider": "sandbox", "channel_key": channel.channel_key, "to": ANN, "text": "Hi"}
    )
    assert status == 409
    (error,) = [problem["msg"] for problem in answer["errors"]]
    assert error.startswith(f"to: {ANN} has opted out (") and "Unsubscribed in the old tool" in error
    assert "suppression list" in error and "START" in error
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)  # the fan-out job is enqueued on commit
def test_a_bulk_job_reports_suppressed_recipients_and_never_sends_them(api, channel, worker):
    Suppression.add([BOB], source="reply", reason="Replied STOP")
    recipients = [{"to": ANN}, {"to": BOB}, {"to": CAT}]
    status, answer = api(
        "/messages/bulk",
        {"provider": "sandbox", "channel_key": channel.channel_key, "recipients": recipients, "text": "Hi"},
    )
    assert status == 200 and answer["data"]["suppressed"] == [BOB], answer
    worker()
    outcome = dict(OutboundMessage.objects.values_list("to", "status"))
    assert outcome[BOB] == Status.CANCELLED and {outcome[ANN], outcome[CAT]} <= {Status.SENT, Status.DELIVERED}


def test_a_campaign_fan_out_cancels_suppressed_numbers_even_when_the_contact_does_not_show_it(
    channel, make_contact, make_list
):
    ann, bob = make_contact(ANN, "Ann"), make_contact(BOB, "Bob")
    Suppression.objects.create(number=BOB, suppressed_at="2026-01-01T00:00Z", source="file")  # no mirror at all
    campaign = Campaign.objects.create(name="Sale", channel=channel, text="Hi")
    campaign.lists.set([make_list("Customers", [ann, bob])])
    assert campaign.launch()
    fan_out(campaign.pk)
    rows = dict(campaign.messages.values_list("to", "status"))
    assert rows == {ANN: Status.QUEUED, BOB: Status.CANCELLED}
    assert campaign.messages.get(to=BOB).error_code == "opted_out"


def test_a_stop_after_fan_out_stops_the_message_at_send_time(channel, make_contact, make_list):
    ann = make_contact(ANN, "Ann")
    campaign = Campaign.objects.create(name="Sale", channel=channel, text="Hi")
    campaign.lists.set([make_list("Customers", [ann])])
    assert campaign.launch()
    fan_out(campaign.pk)
    Contact.objects.filter(phone=ANN).delete()  # the contact gone too: the number still counts
    Suppression.add([ANN], source="reply", reason="Replied STOP")
    send_messages(list(campaign.messages.values_list("id", flat=True)))
    message = campaign.messages.get()
    assert (message.status, message.error_code) == (Status.CANCELLED, "opted_out")


def test_staff_single_messages_and_test_sends_are_refused_with_the_reason(channel, staff, administrator):
    Suppression.add([ANN], source="staff", reason="Asked by phone", by=administrator)
    with pytest.raises(ValidationError, match=re.escape(ANN) + " has opted out .*Asked by phone"):
        OutboundMessage.send_one(channel=channel, to=ANN, text="Hi")
    campaign = Campaign.objects.create(name="Sale", channel=channel, text="Hi")
    with pytest.raises(ValidationError, match="suppression list"):
        send_test(campaign, ANN, administrator)
    response = staff.post(
        reverse("admin:campaigns_outboundmessage_add"), {"channel": channel.pk, "to": ANN, "body": "Hi"}
    )
    assert "is on the suppression list" in response.content.decode()
    response = staff.post(
        reverse("admin:providers_channel_changelist"),
        {"action": "send_test_message", "_selected_action": [channel.pk], "send": "1", "to": ANN, "text": "Hi"},
    )
    assert "is on the suppression list" in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_a_start_reply_lifts_it_even_after_the_contact_was_deleted(make_contact):
    make_contact(ANN)
    stop(ANN)
    Contact.objects.filter(phone=ANN).delete()
    reply(ANN, "START")
    assert not Suppression.objects.filter(number=ANN).exists()
    contact = Contact.objects.get(phone=ANN)
    assert not contact.is_opted_out
    record = contact.opt_ins.get()
    assert (record.source, record.previous_opt_out_reason) == (OptInRecord.Source.REPLY, "Replied STOP")


def test_opting_back_in_lifts_the_number_and_keeps_who_and_why(make_contact, administrator):
    make_contact(ANN)
    stop(ANN)
    assert Contact.opt_in(Contact.objects.all(), source="staff", reason="Re-consented", by=administrator) == 1
    assert not Suppression.objects.exists()
    record = OptInRecord.objects.get()
    assert (record.by_label, record.reason) == (administrator.get_username(), "Re-consented")


def test_the_staff_opt_out_action_suppresses_the_selection(staff, make_contact):
    ann = make_contact(ANN)
    staff.post(
        reverse("admin:contacts_contact_changelist"), {"action": "opt_out", "_selected_action": [ann.pk], "post": "yes"}
    )
    row = Suppression.objects.get(number=ANN)
    assert (row.source, row.by_label, row.reason) == ("staff", "maria", "Opted out by maria")
    assert Contact.objects.get(phone=ANN).is_opted_out


def test_the_migration_fills_the_list_from_todays_opted_out_contacts():
    Contact.objects.bulk_create(
        [
            Contact(phone=ANN, opted_out_at="2025-03-01T10:00Z", opt_out_reason="Replied STOP"),
            Contact(phone=BOB),
        ]
    )
    migration = importlib.import_module("contacts.migrations.0006_suppression_list")
    migration.fill_from_opted_out_contacts(django_apps, SimpleNamespace(connection=connection))
    row = Suppression.objects.get()
    assert (row.number, row.reason, row.source, row.suppressed_at.year) == (ANN, "Replied STOP", "contact", 2025)
