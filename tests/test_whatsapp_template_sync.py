"""WhatsApp templates synced from Twilio's Content API and Gupshup's list, through real workers and the
loopback fakes: every field stored, every page followed, lost approvals and deletions marked, a
failed sync keeping the last good list, the providers' limits respected, and a campaign on a template
that is gone or not approved blocked before launch with the reason."""

from __future__ import annotations

import json

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.content.prelaunch import channel_refusal
from campaigns.models import Campaign, TemplateSync, WhatsAppTemplate
from campaigns.whatsapp.sync import request_sync, sync_templates
from contacts.models import ContactList
from providers.fakes.server import FakeResponse
from providers.fakes.templates import (
    DEMO_GUPSHUP_TEMPLATES,
    TWILIO_ORDER_UPDATE,
    TWILIO_REJECTED,
    TWILIO_SPRING_SALE,
    gupshup_template,
    twilio_content,
)
from providers.gupshup.fake import FakeGupshup, GupshupConfig
from providers.models import Channel
from providers.templates import from_gupshup, from_twilio
from tests import test_twilio_support as support
from tests.browser import log_in, shot

pytestmark = pytest.mark.django_db
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
CONTENT_LIST = "/v1/ContentAndApprovals"


@pytest.fixture
def whatsapp(make_twilio_channel) -> Channel:
    return make_twilio_channel("twlowa")


@pytest.fixture(scope="module")
def gupshup_server():
    with FakeGupshup() as fake:
        yield fake


@pytest.fixture
def gupshup(gupshup_server, db) -> Channel:
    gupshup_server.reset(GupshupConfig(apikey="gs-key", app_name="shopapp"))
    return Channel.objects.create(
        name="Gupshup",
        provider="gswa",
        sender="917834811114",
        credentials={"apikey": "gs-key", "app_name": "shopapp"},
        api_base_url=gupshup_server.base_url,
    )


def stored(channel: Channel) -> dict[str, WhatsAppTemplate]:
    return {t.provider_id: t for t in WhatsAppTemplate.objects.filter(channel=channel)}


def content_requests(fake) -> list:
    return [request for request in fake.received if request.path == CONTENT_LIST]


# --- contract: Twilio's Content OpenAPI -------------------------------------------------------------


def content_list_errors(body: dict) -> list[str]:
    operation = support._spec("twilio_content_v1.json")["paths"][CONTENT_LIST]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return support._errors(support._validator("twilio_content_v1.json", schema), body)


def test_the_fakes_content_list_is_what_twilios_spec_describes(whatsapp, fake_twilio):
    sync_templates(whatsapp)
    [request] = content_requests(fake_twilio)
    parameters = support._spec("twilio_content_v1.json")["paths"][CONTENT_LIST]["get"]["parameters"]
    allowed = {parameter["name"]: parameter["schema"] for parameter in parameters}
    assert set(request.query) <= set(allowed)
    size = int(request.query["PageSize"][0])
    assert allowed["PageSize"]["minimum"] <= size <= allowed["PageSize"]["maximum"]
    answer = fake_twilio.list_content(request)
    assert content_list_errors(answer.body) == []
    assert content_list_errors({"contents": [{"sid": "nope"}], "meta": {}})  # the check can fail


@pytest.mark.django_db(transaction=True)
def test_a_sync_by_a_real_worker_stores_every_field(whatsapp, fake_twilio, worker):
    request_sync(whatsapp)
    worker()
    templates = stored(whatsapp)
    assert set(templates) == {TWILIO_SPRING_SALE, TWILIO_ORDER_UPDATE, TWILIO_REJECTED}
    sale = templates[TWILIO_SPRING_SALE]
    assert (sale.name, sale.language, sale.category, sale.kind) == ("spring_sale", "en", "MARKETING", "twilio/card")
    assert sale.body == "Hi {{1}}, our spring sale starts {{2}}! Up to 40% off."
    assert sale.header == {"type": "media", "url": "https://example.com/spring.jpg"}
    assert sale.buttons == [{"type": "URL", "title": "Shop now", "url": "https://example.com/sale"}]
    assert sale.variables == {"1": "Ana", "2": "Saturday"}
    assert sale.is_usable
    # The flat shape of approval_requests (the spec's example) reads the same as the nested one.
    assert templates[TWILIO_ORDER_UPDATE].status == "approved"
    rejected = templates[TWILIO_REJECTED]
    assert (rejected.status, rejected.rejection_reason) == ("rejected", "Promotional content in a utility template")
    state = TemplateSync.objects.get(channel=whatsapp)
    assert state.listed == 3 and state.last_error == "" and state.last_worked_at is not None


def test_every_page_is_followed(whatsapp, fake_twilio):
    fake_twilio.content = [
        twilio_content(f"HX{index:032x}", f"t{index}", {"twilio/text": {"body": "Hi"}}, {}, "approved")
        for index in range(1, 1201)
    ]
    assert sync_templates(whatsapp) == "1200 templates listed"
    assert len(content_requests(fake_twilio)) == 3  # 500 a page
    assert WhatsAppTemplate.objects.filter(channel=whatsapp).count() == 1200


def test_templates_that_disappear_or_lose_approval_are_marked(whatsapp, fake_twilio):
    sync_templates(whatsapp)
    fake_twilio.content = [item for item in fake_twilio.content if item["sid"] != TWILIO_ORDER_UPDATE]
    fake_twilio.content[0]["approval_requests"]["whatsapp"]["status"] = "paused"
    TemplateSync.objects.filter(channel=whatsapp).update(last_tried_at=None)
    sync_templates(whatsapp)
    templates = stored(whatsapp)
    assert templates[TWILIO_ORDER_UPDATE].missing_since is not None  # kept, marked, not deleted
    assert templates[TWILIO_SPRING_SALE].status == "paused" and not templates[TWILIO_SPRING_SALE].is_usable


def campaign_on(channel: Channel, template_id: str) -> Campaign:
    customers = ContactList.objects.create(name=f"Customers {ContactList.objects.count() + 1}")
    campaign = Campaign.objects.create(
        name=f"Spring {Campaign.objects.count() + 1}",
        channel=channel,
        provider_template={"id": template_id, "variables": {"1": "{{ name }}"}},
    )
    campaign.lists.add(customers)
    return campaign


def test_a_campaign_on_a_template_gone_or_not_approved_is_blocked_with_the_reason(whatsapp, fake_twilio):
    assert channel_refusal(campaign_on(whatsapp, TWILIO_REJECTED)) == ""  # never synced: nothing known yet
    sync_templates(whatsapp)
    refusal = channel_refusal(campaign_on(whatsapp, TWILIO_REJECTED))
    assert "“flash_offer (en)” is rejected at Twilio WhatsApp" in refusal
    assert "Promotional content in a utility template" in refusal
    unknown = "HX" + "a" * 32
    assert f"The WhatsApp template {unknown} is not one of the 3 templates" in channel_refusal(
        campaign_on(whatsapp, unknown)
    )
    assert channel_refusal(campaign_on(whatsapp, TWILIO_ORDER_UPDATE)) == ""
    WhatsAppTemplate.objects.filter(provider_id=TWILIO_ORDER_UPDATE).update(missing_since=timezone.now())
    assert "was deleted at Twilio WhatsApp" in channel_refusal(campaign_on(whatsapp, TWILIO_ORDER_UPDATE))


def test_a_failed_sync_keeps_the_last_good_list_and_says_why(whatsapp, fake_twilio):
    sync_templates(whatsapp)
    Channel.objects.filter(pk=whatsapp.pk).update(
        credentials={"account_sid": support.ACCOUNT_SID, "auth_token": "wrong"}
    )
    TemplateSync.objects.filter(channel=whatsapp).update(last_tried_at=None)
    outcome = sync_templates(Channel.objects.get(pk=whatsapp.pk))
    assert outcome.startswith("failed: Twilio did not list the templates: authentication failed")
    state = TemplateSync.objects.get(channel=whatsapp)
    assert "authentication failed" in state.last_error and state.listed == 3
    assert WhatsAppTemplate.objects.filter(channel=whatsapp, missing_since__isnull=True).count() == 3


def test_a_429_waits_for_the_time_it_names(whatsapp, fake_twilio):
    fake_twilio.content_refusal = FakeResponse(
        429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "120"}
    )
    outcome = sync_templates(whatsapp)
    assert outcome == "failed: Twilio asked us to slow down (429)."
    state = TemplateSync.objects.get(channel=whatsapp)
    assert 100 < (state.not_before - timezone.now()).total_seconds() <= 120
    scheduled = django_rq.get_queue("default").scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1  # the retry, when Twilio allows it
    assert sync_templates(whatsapp).startswith("waiting")  # asked again too soon: not sent
    assert len(content_requests(fake_twilio)) == 1


def test_gupshup_templates_are_read_from_their_json_in_strings(gupshup, gupshup_server):
    assert sync_templates(gupshup) == "3 templates listed"
    templates = {t.name: t for t in WhatsAppTemplate.objects.filter(channel=gupshup)}
    sale = templates["spring_sale"]
    assert sale.variables == {"1": "Ana", "2": "Saturday"}
    assert sale.footer == "Reply STOP to opt out"
    assert sale.buttons == [{"type": "URL", "title": "Shop now", "url": "https://example.com/sale"}]
    assert templates["new_collection"].header == {"type": "image", "url": "https://example.com/collection.jpg"}
    assert templates["flash_offer"].status == "rejected"
    assert len(DEMO_GUPSHUP_TEMPLATES) == 3


def test_gupshup_is_asked_at_most_every_six_seconds(gupshup, gupshup_server):
    sync_templates(gupshup)
    assert sync_templates(gupshup).startswith("waiting")
    lists = [r for r in gupshup_server.received if r.path.startswith("/sm/api/v1/template/list/")]
    assert len(lists) == 1
    assert django_rq.get_queue("default").scheduled_job_registry.count == 1


@pytest.mark.parametrize(
    "item",
    [
        {"sid": "HX" + "1" * 32},  # nothing but a sid
        {"sid": "HX" + "2" * 32, "types": {"twilio/unknown": {"body": 5}}, "approval_requests": "odd"},
        {"sid": "HX" + "3" * 32, "types": [], "variables": [1, 2], "approval_requests": {"whatsapp": {"status": 7}}},
    ],
)
def test_odd_answers_are_stored_as_text(item):
    template = from_twilio(item)
    assert template is not None and template.provider_id == item["sid"]
    assert isinstance(template.status, str) and isinstance(template.body, str)


def test_entries_without_an_id_are_skipped():
    assert from_twilio({"friendly_name": "x"}) is None
    assert from_twilio("garbage") is None
    assert from_gupshup({"elementName": "x"}) is None
    odd = from_gupshup(gupshup_template("g-1", "x", "Hi {{1}}", "Hi [Ana]", "WEIRD_STATE", containerMeta="{not json"))
    assert odd is not None and odd.status == "weird_state"
    assert from_gupshup({"id": "g-2", "containerMeta": "[1]", "meta": json.dumps("s")}).variables == {}


# --- the admin -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_staff_who_edit_templates_may_sync_and_viewers_may_not(client, whatsapp, fake_twilio, marketing_staff):
    client.force_login(marketing_staff)
    response = client.post(reverse("admin:campaigns_whatsapptemplate_sync"), {"channel": whatsapp.pk})
    assert response.status_code == 302
    assert django_rq.get_queue("default").count == 1
    viewer = type(marketing_staff).objects.create_user("vic", is_staff=True)
    client.force_login(viewer)
    response = client.post(reverse("admin:campaigns_whatsapptemplate_sync"), {"channel": whatsapp.pk})
    assert response.status_code == 403
    assert django_rq.get_queue("default").count == 1


def test_the_channel_page_says_how_its_templates_sync(staff, whatsapp, fake_twilio):
    sync_templates(whatsapp)
    page = staff.get(reverse("admin:providers_channel_change", args=[whatsapp.pk])).content.decode()
    assert "WhatsApp templates</a>: 3 listed; last synced" in page


@pytest.mark.django_db(transaction=True)
def test_the_template_list_in_a_browser(page, live_server, nairobi_staff, whatsapp, fake_twilio, worker):
    sync_templates(whatsapp)
    Channel.objects.filter(pk=whatsapp.pk).update(
        credentials={"account_sid": support.ACCOUNT_SID, "auth_token": "wrong"}
    )
    TemplateSync.objects.filter(channel=whatsapp).update(last_tried_at=None)
    sync_templates(Channel.objects.get(pk=whatsapp.pk))
    log_in(page, live_server, nairobi_staff.username, reverse("admin:campaigns_whatsapptemplate_changelist"))
    shot(page, "whatsapp-templates")
    text = page.inner_text("#content")
    assert "spring_sale" in text and "Rejected: Promotional content in a utility template" in text
    assert "EAT" in page.inner_text("#template-syncs")  # Nairobi's time zone, named
    assert "authentication failed" in page.inner_text("#template-syncs")


def test_channels_typed_for_twilio_may_now_list_templates_at_twilios_content_api(db):
    import importlib

    from django.apps import apps as django_apps

    migration = importlib.import_module("providers.migrations.0008_twilio_content_api_address")
    twilio = Channel.objects.create(name="WA", provider="twlowa", sender="+14155238886")
    Channel.objects.filter(pk=twilio.pk).update(credentials_entered_for="https://api.twilio.com")
    proxied = Channel.objects.create(
        name="WA proxy", provider="twlowa", sender="+14155238887", api_base_url="https://proxy.example.com"
    )
    Channel.objects.filter(pk=proxied.pk).update(credentials_entered_for="https://proxy.example.com")
    migration.allow_content_api(django_apps, None)
    assert Channel.objects.get(pk=twilio.pk).credentials_entered_for.split() == [
        "https://api.twilio.com",
        "https://content.twilio.com",
    ]
    assert Channel.objects.get(pk=proxied.pk).credentials_entered_for == "https://proxy.example.com"
    fresh = Channel.objects.create(
        name="WA new", provider="twlowa", sender="+14155238888", credentials={"account_sid": "AC1", "auth_token": "t"}
    )
    assert "https://content.twilio.com" in fresh.credentials_entered_for.split()
