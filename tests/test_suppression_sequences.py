"""No sequence of deletes, imports, re-adds and API calls can message a number that opted out.

Every sequence of three of the ways a contact comes and goes (deleted, imported plainly, imported
with "opted out: no", added again by hand; never the same twice running) is played from a STOP, and
after each step every way of sending is tried: POST /message (saving the contact into the
campaign's list), POST /messages/bulk, a staff single message, and a campaign to the list. Then
everything queued is sent. Not one message to the number may be anything but refused or cancelled,
save the STOP's own confirmation, which goes once.
"""

from __future__ import annotations

import itertools
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client

from campaigns.models import ApiKey, Campaign, OutboundMessage
from campaigns.pipeline.fanout import fan_out
from campaigns.pipeline.sending import send_messages
from contacts.importing import engine
from contacts.models import Contact, ContactImport, ContactList, Suppression
from providers.events import InboundEvent, receive_inbound
from providers.models import Channel

pytestmark = pytest.mark.django_db
ANN, BOB = "+14155550101", "+14155550102"
Status = OutboundMessage.Status


class Rollback(Exception):
    """Undoes one sequence, so the next starts from the same STOP."""


@pytest.fixture
def world(administrator, channel, tmp_path):
    key = ApiKey.issue(administrator, name="shop")[1]
    client = Client()
    customers = ContactList.objects.create(name="Customers")

    def api(path: str, body: dict) -> int:
        body = {"provider": "sandbox", "channel_key": channel.channel_key, "text": "Sale!", **body}
        answer = client.post(path, json.dumps(body), content_type="application/json", headers={"apikey": key})
        return answer.status_code

    def import_rows(text: str) -> None:
        path = tmp_path / "contacts.csv"
        path.write_text(text)
        contact_import = ContactImport(
            file_name=path.name, stored_path=str(path), region="US", target_list=customers, existing="update"
        )
        engine.open_import(contact_import)
        contact_import.save()
        engine.run(contact_import, processes=1)

    changes = {
        "delete": lambda: Contact.objects.filter(phone=ANN).delete(),
        "import": lambda: import_rows(f"phone,name\n{ANN},Ann\n{BOB},Bob\n"),
        "import saying not opted out": lambda: import_rows(f"phone,name,opted out\n{ANN},Ann,no\n{ANN},Ann,\n"),
        "add by hand": lambda: (
            Contact.objects.filter(phone=ANN).exists()
            or customers.contacts.add(Contact.objects.create(phone=ANN, name="Ann"))
        ),
    }

    def campaign() -> None:
        sale = Campaign.objects.create(name="Sale", channel=channel, text="Sale!")
        sale.lists.set([customers])
        if sale.launch():
            fan_out(sale.pk)

    def staff_message() -> None:
        try:
            OutboundMessage.send_one(channel=channel, to=ANN, text="Hi", user=administrator)
        except ValidationError:
            pass

    def bulk() -> None:
        api("/messages/bulk", {"recipients": [{"to": ANN}, {"to": BOB}]})
        for job in Campaign.objects.filter(kind=Campaign.Kind.BULK_API, fanned_out_at__isnull=True):
            fan_out(job.pk)  # in a test transaction nothing is enqueued on commit: fan out here

    attempts = {
        "POST /message": lambda: api(
            "/message", {"to": ANN, "contact_saving": {"save": True, "list_id": customers.pk}}
        ),
        "POST /messages/bulk": bulk,
        "staff single message": staff_message,
        "campaign": campaign,
    }
    return changes, attempts


def test_no_sequence_of_deletes_imports_and_api_calls_messages_a_number_that_opted_out(world):
    changes, attempts = world
    Contact.objects.create(phone=ANN, name="Ann")
    replies = Channel.objects.create(name="Replies", provider="sandbox")
    receive_inbound([InboundEvent(replies.pk, ANN, "STOP")])
    confirmation = OutboundMessage.objects.get(to=ANN)
    assert confirmation.confirms_opt_out and "unsubscribed" in confirmation.body
    played = 0
    for sequence in itertools.product(changes, repeat=3):
        if sequence[0] == sequence[1] or sequence[1] == sequence[2]:
            continue  # the same change twice running adds nothing
        try:
            with transaction.atomic():
                for change in sequence:
                    changes[change]()
                    for attempt in attempts.values():
                        attempt()
                queued = OutboundMessage.objects.filter(status=Status.QUEUED).values_list("id", flat=True)
                send_messages(list(queued))
                to_ann = OutboundMessage.objects.filter(to=ANN).exclude(pk=confirmation.pk)
                assert not to_ann.filter(confirms_opt_out=True).exists(), sequence
                assert Suppression.objects.filter(number=ANN).exists(), sequence
                assert set(to_ann.values_list("status", flat=True)) <= {Status.CANCELLED}, sequence
                assert not to_ann.exclude(provider_message_id="").exists(), sequence
                contact = Contact.objects.filter(phone=ANN).first()
                assert contact is None or contact.is_opted_out, sequence  # and it shows
                assert OutboundMessage.objects.filter(to=BOB).exclude(status=Status.CANCELLED).exists() or (
                    "import" not in " ".join(sequence)
                ), sequence  # the same sends do reach a number that never opted out
                played += 1
                raise Rollback
        except Rollback:
            pass
    assert played == 36
