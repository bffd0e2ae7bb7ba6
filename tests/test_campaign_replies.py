"""Replies on the campaign page and in its results export: how many, the rate, the latest linked to
their conversations, and the opt-outs that followed the campaign (replies to it that were STOP)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Conversation, InboundMessage, OutboundMessage
from campaigns.reports import replies
from contacts.models import Contact, Suppression
from tests.browser import marketing_group

pytestmark = pytest.mark.django_db
NUMBERS = ["+447911123401", "+447911123402", "+447911123403", "+447911123404", "+447911123405"]
START = timezone.now().replace(microsecond=0) - timedelta(hours=5)


def reply(campaign, phone: str, minutes: int, text: str, keyword: str = "") -> InboundMessage:
    conversation, _ = Conversation.objects.get_or_create(
        channel=campaign.channel, phone=phone, defaults={"last_message_at": START}
    )
    return InboundMessage.objects.create(
        channel=campaign.channel,
        conversation=conversation,
        phone=phone,
        contact=Contact.objects.filter(phone=phone).first(),
        text=text,
        keyword=keyword,
        campaign=campaign,
        received_at=START + timedelta(minutes=minutes),
    )


@pytest.fixture
def spring(channel, make_contact) -> Campaign:
    """Five recipients: four messages went out (one failed), one still queued. Ann asks twice, Bob says
    STOP and stays out, Cat says STOP and opts back in; a reply to another campaign counts for none."""
    campaign = Campaign.objects.create(
        name="Spring sale", channel=channel, text="Hi", status=Campaign.Status.RUNNING, started_at=START
    )
    statuses = ["delivered", "delivered", "sent", "failed", "queued"]
    for number, status in zip(NUMBERS, statuses, strict=True):
        contact = make_contact(number, f"Person {number[-1]}")
        OutboundMessage.objects.create(
            campaign=campaign,
            channel=channel,
            to=number,
            contact=contact,
            recipient_key=number,
            body="Hi",
            status=status,
        )
    reply(campaign, NUMBERS[0], 1, "What time does it start?")
    reply(campaign, NUMBERS[0], 5, "And does it include shoes?")
    reply(campaign, NUMBERS[1], 3, "STOP", keyword="STOP")
    Contact.opt_out_phone(NUMBERS[1], "Replied STOP", source=Suppression.Source.REPLY)
    reply(campaign, NUMBERS[2], 4, "Stop.", keyword="STOP")
    Contact.opt_out_phone(NUMBERS[2], "Replied Stop.", source=Suppression.Source.REPLY)
    Contact.opt_in_phone(NUMBERS[2], "Replied START")
    other = Campaign.objects.create(name="Other", channel=channel, text="Hi", status=Campaign.Status.COMPLETED)
    reply(other, NUMBERS[3], 6, "Wrong campaign")
    return campaign


def test_the_summary_counts_replies_numbers_rate_and_opt_outs(spring):
    found = replies.summary(spring, sent=5)
    assert (found.replies, found.opt_outs, found.still_opted_out) == (4, 2, 1)
    assert found.rate_text == "80.0%"  # 4 replies to 5 messages sent
    assert [row["text"] for row in found.latest] == [
        "And does it include shoes?",
        "Stop.",
        "STOP",
        "What time does it start?",
    ]
    assert [(row["phone"], row["still_opted_out"]) for row in found.latest_opt_outs] == [
        (NUMBERS[2], False),
        (NUMBERS[1], True),
    ]


def test_the_summary_of_a_campaign_without_replies(channel):
    quiet = Campaign.objects.create(name="Quiet", channel=channel, text="Hi", status=Campaign.Status.COMPLETED)
    found = replies.summary(quiet, sent=0)
    assert (found.replies, found.rate_text, found.opt_outs, found.latest) == (0, "—", 0, [])


def test_the_campaign_page_shows_replies_rate_latest_and_opt_outs(staff, spring):
    page = staff.get(f"/admin/campaigns/campaign/{spring.pk}/change/").content.decode()
    panel = page[page.index('id="campaign-replies"') :]
    assert '<span class="number" data-figure="replies">4</span>' in panel
    assert '<span class="number" data-figure="reply-rate">100.0%</span>' in panel  # 4 replies, 4 went out
    assert '<span class="number" data-figure="opt-outs">2</span>' in panel
    assert "1 still on the suppression list" in panel
    assert panel.index("And does it include shoes?") < panel.index("What time does it start?")
    assert "Wrong campaign" not in panel
    assert "opted back in" in panel and "still opted out" in panel
    assert "opt-outs made another way (staff, an import, a provider&#x27;s error) name no campaign" in panel


def test_replies_link_to_their_conversations_and_the_campaigns_inbox(staff, spring):
    page = staff.get(f"/admin/campaigns/campaign/{spring.pk}/change/").content.decode()
    conversation = Conversation.objects.get(phone=NUMBERS[0])
    assert (
        f'<a href="{reverse("admin:campaigns_conversation_change", args=[conversation.pk])}">Conversation</a>' in page
    )
    assert f'href="{reverse("admin:campaigns_conversation_changelist")}?campaign={spring.pk}"' in page


def test_marketing_sees_the_replies(spring):
    mia = get_user_model().objects.create_user("mia", password="x", is_staff=True)
    mia.groups.add(marketing_group())
    client = Client()
    client.force_login(mia)
    page = client.get(f"/admin/campaigns/campaign/{spring.pk}/change/").content.decode()
    assert 'id="campaign-replies"' in page and "What time does it start?" in page


def test_a_draft_has_no_replies_panel(staff, channel):
    draft = Campaign.objects.create(name="Draft", channel=channel, text="Hi")
    page = staff.get(f"/admin/campaigns/campaign/{draft.pk}/change/").content.decode()
    assert 'id="campaign-replies"' not in page


def test_the_campaign_page_counts_replies_with_a_bounded_number_of_queries(
    staff, spring, django_assert_max_num_queries
):
    for n in range(200):
        reply(spring, NUMBERS[0], 10 + n, f"More {n}")
    with django_assert_max_num_queries(60):
        page = staff.get(f"/admin/campaigns/campaign/{spring.pk}/change/").content.decode()
    assert page.count("<tr data-reply=") == replies.LATEST_SHOWN


def test_the_results_export_has_each_recipients_replies_and_opt_out(staff, spring):
    response = staff.get(f"/admin/campaigns/campaign/{spring.pk}/results.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header = rows[0]
    zone = str(timezone.get_current_timezone())
    assert header[-4:] == ["replies", "last reply", f"last reply at ({zone})", f"opted out by replying at ({zone})"]
    by_number = {row[0]: row[-4:] for row in rows[1:]}
    local = timezone.localtime
    assert by_number[NUMBERS[0]] == [
        "2",
        "And does it include shoes?",
        f"{local(START + timedelta(minutes=5)):%Y-%m-%d %H:%M:%S}",
        "",
    ]
    stopped_at = f"{local(START + timedelta(minutes=3)):%Y-%m-%d %H:%M:%S}"
    assert by_number[NUMBERS[1]] == ["1", "STOP", stopped_at, stopped_at]
    assert by_number[NUMBERS[3]] == ["0", "", "", ""]  # their reply answered another campaign
    assert by_number[NUMBERS[4]] == ["0", "", "", ""]


def test_the_export_looks_replies_up_a_chunk_at_a_time(spring, django_assert_max_num_queries):
    rows = iter([(number, "x") for number in NUMBERS * 3])
    with django_assert_max_num_queries(3):
        joined = list(replies.with_replies(spring, rows, chunk=6))
    assert len(joined) == 15 and joined[0][2] == 2
