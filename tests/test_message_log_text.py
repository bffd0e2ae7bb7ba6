"""The message log shows each recipient's text, placeholders filled, also for campaign messages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import Campaign, MessageTemplate, OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(channel):
    template = MessageTemplate.objects.create(
        name="Sale", body='Hi {{ first_name }}, {{ city|default:"our shop" }} & more <b>today</b>'
    )
    return Campaign.objects.create(name="Spring", channel=channel, template=template)


def message_for(campaign, contact, status=OutboundMessage.Status.QUEUED, **fields) -> OutboundMessage:
    return OutboundMessage.objects.create(
        campaign=campaign,
        channel=campaign.channel,
        contact=contact,
        to=contact.phone,
        recipient_key=contact.phone,
        status=status,
        **fields,
    )


def test_a_queued_campaign_message_shows_the_text_its_recipient_will_get(staff, campaign, make_contact):
    message = message_for(campaign, make_contact(name="Ann Smith", city="Leeds"))
    page = staff.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Text for this recipient" in page
    assert "Hi Ann, Leeds &amp; more &lt;b&gt;today&lt;/b&gt;" in page  # escaped once by the page, not by the renderer
    assert "may have changed" not in page


def test_a_sent_campaign_message_shows_its_text_and_no_empty_body(staff, campaign, make_contact):
    message = message_for(campaign, make_contact(name="Bob"), status=OutboundMessage.Status.SENT)
    page = staff.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Hi Bob, our shop &amp; more" in page
    assert "the contact&#x27;s current values" in page
    assert "field-body" not in page


def test_a_message_with_its_own_variables_uses_them(staff, campaign, make_contact):
    message = message_for(campaign, make_contact(name="Ann"), variables={"city": "York"})
    page = staff.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Hi Ann, York &amp; more" in page


def test_the_log_lists_each_recipients_text(staff, campaign, make_contact):
    message_for(campaign, make_contact("+447911000001", name="Ann"))
    message_for(campaign, make_contact("+447911000002", name="Cem"))
    page = staff.get(reverse("admin:campaigns_outboundmessage_changelist")).content.decode()
    assert "Hi Ann, our shop" in page and "Hi Cem, our shop" in page


# --- the text a campaign message went with is kept ------------------------------------------------


def send_campaign_now(campaign) -> None:
    from campaigns.pipeline import sending
    from campaigns.pipeline.fanout import fan_out

    campaign.launch()
    fan_out(campaign.pk)
    sending.send_claimed(sending.claim(campaign.messages.all(), limit=100), sending.SendSummary())


def test_a_sent_campaign_message_keeps_the_text_it_went_with(staff, campaign, make_contact, make_list):
    ann = make_contact(name="Ann Smith", city="Leeds")
    campaign.lists.set([make_list("Customers", [ann])])
    send_campaign_now(campaign)
    message = campaign.messages.get()
    assert (message.status, message.body) == ("sent", "Hi Ann, Leeds & more <b>today</b>")

    campaign.template.body = "Something else entirely, {{ first_name }}"
    campaign.template.save()
    ann.name, ann.extra_fields = "Annabel", {"city": "York"}
    ann.save()

    page = staff.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Hi Ann, Leeds &amp; more &lt;b&gt;today&lt;/b&gt;" in page
    assert "Something else" not in page and "may have changed" not in page
    log = staff.get(reverse("admin:campaigns_outboundmessage_changelist")).content.decode()
    assert "Hi Ann, Leeds &amp; more" in log


def test_each_recipient_keeps_their_own_text_and_a_text_without_placeholders_too(
    campaign, channel, make_contact, make_list
):
    contacts = [make_contact(f"+44791100000{n}", name=name) for n, name in enumerate(["Ann", "Cem", "Dev"])]
    campaign.lists.set([make_list("Customers", contacts)])
    send_campaign_now(campaign)
    assert sorted(campaign.messages.values_list("body", flat=True)) == [
        "Hi Ann, our shop & more <b>today</b>",
        "Hi Cem, our shop & more <b>today</b>",
        "Hi Dev, our shop & more <b>today</b>",
    ]
    plain = Campaign.objects.create(name="Plain", channel=channel, text="Doors open at nine")
    plain.lists.set(campaign.lists.all())
    send_campaign_now(plain)
    assert set(plain.messages.values_list("body", flat=True)) == {"Doors open at nine"}


def test_a_retry_sends_the_very_text_it_first_went_with(campaign, make_contact):
    from campaigns.pipeline.sending import render_message

    # A value that itself looks like a placeholder must not be filled in a second time on a retry.
    message = message_for(campaign, make_contact(name="Ann", city="{{ phone }}"))
    first = render_message(OutboundMessage.objects.select_related("contact", "campaign__template").get(pk=message.pk))
    assert first.text.startswith("Hi Ann, {{ phone }} &")
    OutboundMessage.objects.filter(pk=message.pk).update(body=first.text)

    again = render_message(OutboundMessage.objects.select_related("contact", "campaign__template").get(pk=message.pk))
    assert again.text == first.text


def test_the_texts_are_kept_by_the_hand_over_statement_itself(campaign, make_contact, django_assert_num_queries):
    from campaigns.pipeline import sending

    messages = [message_for(campaign, make_contact(f"+44791100001{n}", name=f"P{n}")) for n in range(3)]
    token = sending.claim(campaign.messages.all(), limit=10)
    texts = {m.pk: f"Hi P{n}" for n, m in enumerate(messages)}

    with django_assert_num_queries(1):
        assert sending.hand_over(token, list(texts), texts) == set(texts)

    kept = dict(OutboundMessage.objects.values_list("pk", "body"))
    assert kept == texts
    assert set(OutboundMessage.objects.values_list("status", "attempts")) == {("sending", 1)}
