"""A template saved on the template page sends as written: a real worker renders each recipient's
text and provider template variables and hands them to the Twilio fake over loopback HTTP."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.models import Campaign, MessageTemplate
from tests import test_twilio_support as support
from tests.test_template_admin import rows, template_form

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio, make_twilio_channel = (
    support.twilio_server,
    support.fake_twilio,
    support.make_twilio_channel,
)


def save_template(client, **fields) -> MessageTemplate:
    user = get_user_model().objects.create_superuser("maria", "maria@example.com", "a-long-test-password")
    client.force_login(user)
    data = template_form(**fields)
    data.update(fields.pop("variables", {}))
    response = client.post(reverse("admin:campaigns_messagetemplate_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return MessageTemplate.objects.get()


def run_campaign(template, channel, contacts, make_list, worker) -> None:
    campaign = Campaign.objects.create(name="Spring", channel=channel, template=template)
    campaign.lists.add(make_list("Customers", contacts))
    assert campaign.launch()
    worker()


def test_an_sms_template_goes_out_personalised_and_unescaped(
    client, make_twilio_channel, fake_twilio, make_contact, make_list, worker
):
    template = save_template(client, body='Hi {{ first_name }} & co, {{ city|default:"our shop" }} <today>')
    ann = make_contact("+447911123456", "Ann Smith", city="Leeds")
    bob = make_contact("+447911123457", "Bob")
    run_campaign(template, make_twilio_channel("twlo"), [ann, bob], make_list, worker)
    bodies = {request.form["To"][0]: request.form["Body"][0] for request in fake_twilio.received}
    assert bodies == {ann.phone: "Hi Ann & co, Leeds <today>", bob.phone: "Hi Bob & co, our shop <today>"}


def test_a_twilio_content_template_sends_each_recipients_variables(
    client, make_twilio_channel, fake_twilio, make_contact, make_list, worker
):
    variables = rows(
        {"position": 1, "field": "first_name", "fallback": "friend"},
        {"position": 2, "source": "fixed", "value": "20% off"},
    )
    template = save_template(
        client, provider_kind="twilio", provider_template_id=support.CONTENT_SID, variables=variables
    )
    ann = make_contact("+447911123456", "Ann Smith")
    nameless = make_contact("+447911123457", "")
    run_campaign(template, make_twilio_channel("twlowa"), [ann, nameless], make_list, worker)
    sent = {
        request.form["To"][0]: (request.form["ContentSid"][0], json.loads(request.form["ContentVariables"][0]))
        for request in fake_twilio.received
    }
    assert sent == {
        f"whatsapp:{ann.phone}": (support.CONTENT_SID, {"1": "Ann", "2": "20% off"}),
        f"whatsapp:{nameless.phone}": (support.CONTENT_SID, {"1": "friend", "2": "20% off"}),
    }
