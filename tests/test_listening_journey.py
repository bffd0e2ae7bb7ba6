"""Listening, end to end in Chromium on real parts: a campaign goes out through the loopback Twilio fake,
two recipients reply through Twilio's signed inbound webhook (a question and STOP), and the marketing
person finds both on the campaign's page and in the inbox and answers the question. The STOP contact
is then deleted and imported again, and stays on the suppression list; an API send to it is a 409.

Screenshots of each screen go to SCREENSHOTS_DIR when it is set (we look at them by hand).
"""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth import get_user_model

from campaigns.models import ApiKey, Campaign, InboundMessage, OutboundMessage
from contacts.models import Contact, ContactList, Suppression
from tests import test_twilio_support as support
from tests.browser import eventually, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
ANN, BOB, CAT = "+447911123456", "+447911123457", "+447911123458"
QUESTION = "What time does the sale start?"


@pytest.fixture
def twilio(fake_twilio, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    fake_twilio.send_callbacks = True
    # Status callbacks come 3 s after each send, once the worker that sent it is done writing: the
    # test database (SQLite in memory) takes one writer at a time, and the fake never retries a
    # callback that failed. The test waits for them, reading only, before it writes again.
    fake_twilio.behaviour.callback_delay = 3.0
    return fake_twilio


def callbacks_answered(twilio, count: int) -> bool:
    """Wait until ``count`` status callbacks were all answered 200 (the fake lists the replies it
    posted among its callbacks too: they are left out here, the test counts them itself)."""

    def answered() -> list[int]:
        return [status for _, params, status in twilio.callbacks if "MessageStatus" in params]

    return eventually(lambda: answered() == [200] * count, timeout=30)


def test_replies_are_read_answered_and_a_stop_outlives_its_contact(
    page, live_server, twilio, make_twilio_channel, marketing_staff, worker, tmp_path
):
    # One message a second: their callbacks never overlap (the test database, SQLite in memory, takes
    # one writer at a time; PostgreSQL in CI takes them all).
    channel = make_twilio_channel(name="Demo Twilio SMS (fake)", rate_limit=1)
    customers = ContactList.objects.create(name="Spring customers")
    for phone, name in ((ANN, "Ann Achieng"), (BOB, "Bob Otieno"), (CAT, "Cat Wanjiru")):
        customers.contacts.add(Contact.objects.create(phone=phone, name=name))
    campaign = Campaign.objects.create(name="Spring sale", channel=channel, text="Hi {{ first_name }}, sale Saturday!")
    campaign.lists.add(customers)
    assert campaign.launch()
    worker()
    assert callbacks_answered(twilio, 6)  # sent, then delivered, for each of the three
    worker()  # applies what the webhooks took
    assert campaign.messages.filter(status="delivered").count() == 3

    # Two recipients reply, as Twilio passes replies on: signed, to the channel's inbound address.
    inbound = channel.webhook_url("inbound")
    assert twilio.send_inbound(inbound, ANN, QUESTION, to=channel.sender) == 200
    assert twilio.send_inbound(inbound, BOB, "Stop.", to=channel.sender) == 200
    worker()  # stores both, and sends Bob the confirmation of his STOP
    assert InboundMessage.objects.count() == 2
    assert Suppression.objects.filter(number=BOB).exists()
    assert callbacks_answered(twilio, 8)  # the confirmation's
    worker()

    # The campaign's page shows both replies and the opt-out that followed.
    log_in(page, live_server, marketing_staff.username, f"/admin/campaigns/campaign/{campaign.pk}/change/")
    replies = page.locator("#campaign-replies")
    assert page.inner_text("[data-figure=replies]") == "2"
    assert page.inner_text("[data-figure=opt-outs]") == "1"
    assert QUESTION in replies.inner_text() and "Stop." in replies.inner_text()
    shot(page, "listening/1-campaign-replies")

    # The inbox has both; the question is answered from its conversation.
    page.goto(f"{live_server.url}/admin/campaigns/conversation/")
    inbox = page.inner_text("#result_list")
    assert "Ann Achieng" in inbox and "Bob Otieno" in inbox
    shot(page, "listening/2-inbox")
    page.click("#result_list >> text=Ann Achieng")
    page.wait_for_selector("#conversation-timeline")
    timeline = page.inner_text("#conversation-timeline")
    assert "Hi Ann, sale Saturday!" in timeline and QUESTION in timeline  # both directions, in order
    assert timeline.index("Hi Ann, sale Saturday!") < timeline.index(QUESTION)
    page.fill("#id_text", "It starts at 9:00 on Saturday, Ann.")
    page.click("#send-reply")
    page.wait_for_selector(".messagelist")
    shot(page, "listening/3-answered")
    worker()
    assert callbacks_answered(twilio, 10)  # the answer's
    worker()
    assert [r.form["Body"] for r in twilio.received if r.form.get("To") == [ANN]][-1] == [
        "It starts at 9:00 on Saturday, Ann."
    ]
    answer = OutboundMessage.objects.get(to=ANN, campaign__isnull=True)
    assert answer.channel == channel and answer.created_by == marketing_staff

    # Bob's contact is deleted (the page says his STOP is kept), then imported again.
    bob = Contact.objects.get(phone=BOB)
    page.goto(f"{live_server.url}/admin/contacts/contact/{bob.pk}/delete/")
    assert "suppression list" in page.inner_text("#content")
    shot(page, "listening/4-delete-bob")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert not Contact.objects.filter(phone=BOB).exists()
    assert Suppression.objects.filter(number=BOB).exists()

    csv_file = tmp_path / "customers again.csv"
    csv_file.write_text(f"phone,name\n{BOB},Bob Otieno\n{CAT},Cat Wanjiru\n")
    page.goto(f"{live_server.url}/admin/contacts/contact/import/")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("input[type=submit]")
    page.wait_for_selector("#import-options")
    page.click("input[type=submit]")
    page.wait_for_selector("#import-preview-counts")
    assert "they stay opted out\t1" in page.inner_text("#import-preview-counts")
    shot(page, "listening/5-reimport-preview")
    page.click("#import-confirm input[type=submit]")
    page.wait_for_selector("#import-progress")
    worker()
    page.wait_for_selector("#import-next:not([hidden])")
    assert Contact.objects.get(phone=BOB).is_opted_out
    assert Suppression.objects.filter(number=BOB).exists()

    # An API send to Bob is refused: 409, naming the number and the rule.
    user = get_user_model().objects.create_user("shop", is_staff=True)
    key = ApiKey.issue(user, name="shop")[1]
    body = {"provider": "twlo", "channel_key": channel.channel_key, "to": BOB, "text": "Last chance!"}
    answer = requests.post(f"{live_server.url}/message", json=body, headers={"apikey": key}, timeout=10)
    assert answer.status_code == 409, answer.text
    assert f"to: {BOB} has opted out" in answer.text
    # Nothing went to Bob but the confirmation of his STOP (the channel's keywords send it, once).
    [confirmation] = OutboundMessage.objects.filter(to=BOB, campaign__isnull=True)
    assert confirmation.confirms_opt_out and confirmation.body.startswith("You have successfully been unsubscribed")
