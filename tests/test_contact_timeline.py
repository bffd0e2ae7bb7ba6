"""A contact's timeline on their page: messages both ways with status, channel and campaign, the
number's opt-outs and opt-ins, newest first, in pages that carry on where the last stopped."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from campaigns.conversations import timeline
from campaigns.models import Campaign, Conversation, InboundMessage, OutboundMessage, StaffProfile
from contacts.models import Consent, Contact, OptInRecord, Suppression
from tests.browser import marketing_group

pytestmark = pytest.mark.django_db
PHONE = "+447911123456"
START = timezone.now().replace(microsecond=0) - timedelta(days=3)


def at(minutes: int):
    return START + timedelta(minutes=minutes)


def sent(channel, minutes: int, text: str, to: str = PHONE, contact=None, **fields) -> OutboundMessage:
    message = OutboundMessage.objects.create(
        channel=channel, to=to, contact=contact, body=text, status=fields.pop("status", "delivered"), **fields
    )
    OutboundMessage.objects.filter(pk=message.pk).update(created_at=at(minutes))  # auto_now_add on create
    return message


def reply(channel, minutes: int, text: str, phone: str = PHONE, **fields) -> InboundMessage:
    conversation, _ = Conversation.objects.get_or_create(
        channel=channel, phone=phone, defaults={"last_message_at": at(minutes)}
    )
    return InboundMessage.objects.create(
        channel=channel, conversation=conversation, phone=phone, text=text, received_at=at(minutes), **fields
    )


@pytest.fixture
def ann(make_contact) -> Contact:
    return make_contact(PHONE, "Ann Example")


@pytest.fixture
def spring(channel) -> Campaign:
    return Campaign.objects.create(name="Spring sale", channel=channel, text="Hi", status=Campaign.Status.COMPLETED)


@pytest.fixture
def history(channel, ann, spring):
    """Ann's story: a campaign message, a question, our answer, STOP, START, and a message to her number
    linked to her contact before her number changed."""
    old = sent(channel, 0, "Old number hello", to="+447911000999", contact=ann)
    offer = sent(channel, 10, "Spring sale: 20% off", campaign=spring, contact=ann)
    question = reply(channel, 20, "What time does it start?", campaign=spring, in_reply_to=offer, contact=ann)
    answer = sent(channel, 30, "At nine", status="sent", contact=ann)
    stop = reply(channel, 40, "Stop", keyword="STOP", campaign=spring, contact=ann)
    Suppression.add([PHONE], source=Suppression.Source.REPLY, reason="Replied Stop", channel=channel.name, at=at(40))
    Contact.opt_in_phone(PHONE, "Replied START")
    OptInRecord.objects.filter(contact=ann).update(opted_in_at=at(50))
    start = reply(channel, 50, "START", keyword="START", contact=ann)
    failed = sent(channel, 60, "Welcome back", status="failed", error_code="30003", error_message="Unreachable")
    return {"old": old, "offer": offer, "question": question, "answer": answer, "stop": stop, "start": start,
            "failed": failed}  # fmt: skip


def described(entry: timeline.Entry) -> str:
    row = entry.fields
    text = row.get("body") or row.get("text") or row.get("reason") or ""
    return f"{entry.kind}: {text}"


def test_the_timeline_shows_both_directions_and_the_opt_history_newest_first(history, ann):
    found = timeline.page(ann)
    assert [described(entry) for entry in found.entries] == [
        "sent: Welcome back",
        "opted_in: Replied START",  # what a reply did shows above it, as it came after
        "received: START",
        "opted_out: Replied Stop",
        "received: Stop",
        "sent: At nine",
        "received: What time does it start?",
        "sent: Spring sale: 20% off",
        "sent: Old number hello",
    ]
    assert found.older is None


def test_pages_carry_on_where_the_last_stopped_without_repeating_or_skipping(history, ann):
    seen, position, pages = [], None, 0
    while True:
        found = timeline.page(ann, position, size=2)
        seen.extend(described(entry) for entry in found.entries)
        pages += 1
        if found.older is None:
            break
        position = found.older
    assert pages == 5
    assert seen == [described(entry) for entry in timeline.page(ann, size=50).entries]
    assert len(seen) == len(set(seen)) == 9


def test_a_consent_record_shows_with_its_keyword_list_and_outcome(staff, channel, ann):
    join = reply(channel, 70, "JOIN", keyword="JOIN")
    Consent.objects.create(
        number=PHONE, contact=ann, list_name="VIP club", channel=channel.name, keyword="JOIN", message_id=join.pk,
        texted_at=at(70), state=Consent.State.JOINED,
    )  # fmt: skip
    assert [described(entry) for entry in timeline.page(ann).entries] == ["consent: ", "received: JOIN"]
    page = staff.get(f"/admin/contacts/contact/{ann.pk}/change/").content.decode()
    assert "Texted JOIN to join VIP club" in page and "Joined" in page and "consent record on Sandbox" in page


def test_a_reply_survives_its_contact_and_shows_on_the_new_contact_of_the_number(channel, ann):
    reply(channel, 5, "Hello?")
    ann.delete()
    again = Contact.objects.create(phone=PHONE, name="Ann again")
    assert [described(entry) for entry in timeline.page(again).entries] == ["received: Hello?"]


@pytest.mark.parametrize(
    "query, message",
    [
        ({"sent": "12x"}, "sent: '12x' is not a message id."),
        ({"history": "yesterday"}, "history: 'yesterday' is not a time"),
        ({"received": "2026-12-01T10:00:00+00:00"}, "received: '2026-12-01T10:00:00+00:00' is not a reply's time"),
        ({"received": "2026-12-01T10:00:00~5"}, "received: '2026-12-01T10:00:00' is not a time with its offset"),
    ],
)
def test_a_bad_position_is_refused_naming_the_field_and_value(staff, ann, query, message):
    response = staff.get(f"/admin/contacts/contact/{ann.pk}/timeline/", query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_contact_page_shows_the_timeline_with_status_channel_and_linked_campaign(staff, history, ann, spring):
    page = staff.get(f"/admin/contacts/contact/{ann.pk}/change/").content.decode()
    panel = page[page.index('id="contact-timeline"') :]
    assert panel.index("Welcome back") < panel.index("What time does it start?") < panel.index("Old number hello")
    assert "Unreachable" in panel and "Failed" in panel and "Delivered" in panel
    assert f'href="/admin/campaigns/campaign/{spring.pk}/change/">Spring sale</a>' in panel
    assert "on Sandbox" in panel
    conversation = history["question"].conversation_id
    assert f'href="/admin/campaigns/conversation/{conversation}/change/" class="conversation-link"' in panel
    assert "Opted back in" in panel and "lifted" in panel
    assert "That is everything." in panel


def test_dates_are_in_the_viewers_time_zone_named(staff, history, ann, administrator):
    StaffProfile.objects.create(user=administrator, time_zone="Africa/Nairobi")
    page = staff.get(f"/admin/contacts/contact/{ann.pk}/change/").content.decode()
    nairobi = timezone.localtime(at(60), timezone=__import__("zoneinfo").ZoneInfo("Africa/Nairobi"))
    assert f"{nairobi:%d %b %Y %H:%M} EAT" in page
    assert "Times in Africa/Nairobi (EAT, UTC+03:00)" in page


def shown_texts(page: str) -> list[str]:
    return re.findall(r'<div class="timeline-text">([^<]*)</div>', page)


def older_link(page: str) -> str:
    return re.search(r'href="([^"]+)" class="timeline-older"', page).group(1).replace("&amp;", "&")


def test_older_opens_the_timeline_page_which_pages_to_the_end(staff, channel, ann):
    for minute in range(100):
        sent(channel, minute, f"Message {minute}")
    contact_page = staff.get(f"/admin/contacts/contact/{ann.pk}/change/").content.decode()
    assert shown_texts(contact_page) == [f"Message {n}" for n in range(99, 79, -1)]
    second = staff.get(older_link(contact_page)).content.decode()
    assert shown_texts(second) == [f"Message {n}" for n in range(79, 29, -1)]
    third = staff.get(older_link(second)).content.decode()
    assert shown_texts(third) == [f"Message {n}" for n in range(29, -1, -1)]
    assert "That is everything." in third and 'class="timeline-newest"' in third


def test_a_page_reads_a_bounded_number_of_rows_however_long_the_history(
    staff, channel, ann, django_assert_max_num_queries
):
    for minute in range(300):
        sent(channel, minute, f"Message {minute}")
        reply(channel, minute, f"Reply {minute}")
    with django_assert_max_num_queries(20):
        response = staff.get(f"/admin/contacts/contact/{ann.pk}/timeline/")
    assert response.content.decode().count('class="timeline-entry ') == 50


@pytest.mark.parametrize("role, sees", [("marketing", True), ("viewer", True), ("staff", False)])
def test_who_sees_a_contacts_messages(history, ann, role, sees):
    user = get_user_model().objects.create_user(role, password="x", is_staff=True)
    if role == "marketing":
        user.groups.add(marketing_group())
    elif role == "viewer":
        from django.contrib.auth.models import Permission

        user.user_permissions.add(*Permission.objects.filter(codename__in=["view_contact", "view_outboundmessage"]))
    client = Client()
    client.force_login(user)
    response = client.get(f"/admin/contacts/contact/{ann.pk}/timeline/")
    assert response.status_code == (200 if sees else 403)
    if sees:
        assert "What time does it start?" in client.get(f"/admin/contacts/contact/{ann.pk}/change/").content.decode()


def test_without_the_messages_permission_the_contact_page_says_why_the_timeline_is_hidden(history, ann):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("only-contacts", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client = Client()
    client.force_login(user)
    page = client.get(f"/admin/contacts/contact/{ann.pk}/change/").content.decode()
    assert "Can view outbound message" in page and "What time does it start?" not in page
    response = client.get(f"/admin/contacts/contact/{ann.pk}/timeline/")
    assert response.status_code == 403 and "Can view outbound message" in response.content.decode()
