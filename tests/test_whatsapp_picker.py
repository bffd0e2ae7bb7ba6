"""The campaign form's WhatsApp template picker: only approved synced templates offered, by name and
language; each variable mapped to a contact field or a fixed value; the template's rules said in staff
words before saving (Gupshup's media header); a preview as the phone shows it; a typed id still taken
where no sync has run. And in a real browser, with screenshots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, WhatsAppTemplate
from campaigns.whatsapp.sync import sync_templates
from providers.fakes.templates import DEMO_GUPSHUP_TEMPLATES, TWILIO_REJECTED, TWILIO_SPRING_SALE
from providers.gupshup.fake import FakeGupshup, GupshupConfig
from providers.models import Channel
from tests import test_twilio_support as support
from tests.browser import log_in, shot
from tests.test_template_admin import rows

pytestmark = pytest.mark.django_db
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
ADD = "/admin/campaigns/campaign/add/"
PREVIEW = "/admin/campaigns/campaign/template-preview/"
GUPSHUP_SALE, GUPSHUP_COLLECTION = DEMO_GUPSHUP_TEMPLATES[0]["id"], DEMO_GUPSHUP_TEMPLATES[1]["id"]


@pytest.fixture
def whatsapp(make_twilio_channel, fake_twilio) -> Channel:
    channel = make_twilio_channel("twlowa", name="Shop WhatsApp")
    sync_templates(channel)
    return channel


@pytest.fixture(scope="module")
def gupshup_server():
    with FakeGupshup() as fake:
        yield fake


@pytest.fixture
def gupshup(gupshup_server, db) -> Channel:
    gupshup_server.reset(GupshupConfig(apikey="gs-key", app_name="shopapp"))
    channel = Channel.objects.create(
        name="Shop Gupshup",
        provider="gswa",
        sender="917834811114",
        credentials={"apikey": "gs-key", "app_name": "shopapp"},
        api_base_url=gupshup_server.base_url,
    )
    sync_templates(channel)
    return channel


@pytest.fixture
def customers(make_contact, make_list):
    return make_list("Customers", [make_contact("+447911123401", "Ann Smith"), make_contact("+447911123402", "")])


def synced(channel: Channel, provider_id: str) -> WhatsAppTemplate:
    return WhatsAppTemplate.objects.get(channel=channel, provider_id=provider_id)


def campaign_form(channel, lists, **fields) -> dict:
    data = {
        "name": "Spring sale",
        "channel": channel.pk,
        "text": "",
        "lists": [lst.pk for lst in lists],
        "max_lateness": "3600",
        "whatsapp_template": "",
        "provider_template_id": "",
    }
    data.update(rows())
    data.update(fields)
    return data


SALE_ROWS = rows(
    {"position": 1, "field": "first_name", "fallback": "friend"},
    {"position": 2, "source": "fixed", "value": "Saturday"},
)


def test_only_approved_templates_are_offered_by_name_and_language(staff, whatsapp):
    html = staff.get(ADD).content.decode()
    assert "spring_sale · en (marketing)" in html and "order_update · en (marketing)" in html
    assert "flash_offer" not in html  # rejected
    assert f'data-channel="{whatsapp.pk}"' in html


def test_a_template_chosen_by_name_is_stored_with_its_variables(staff, whatsapp, customers):
    sale = synced(whatsapp, TWILIO_SPRING_SALE)
    response = staff.post(ADD, campaign_form(whatsapp, [customers], whatsapp_template=sale.pk, **SALE_ROWS))
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get()
    assert campaign.provider_template == {
        "id": TWILIO_SPRING_SALE,
        "variables": {"1": '{{ first_name|default:"friend" }}', "2": "Saturday"},
    }
    page = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert f'<option value="{sale.pk}" selected data-channel="{whatsapp.pk}">' in page  # chosen again
    assert 'data-verb="launch"' in page  # nothing blocks it


def test_a_variable_without_a_row_is_named_before_saving(staff, whatsapp, customers):
    sale = synced(whatsapp, TWILIO_SPRING_SALE)
    one_row = rows({"position": 1, "field": "first_name"})
    response = staff.post(ADD, campaign_form(whatsapp, [customers], whatsapp_template=sale.pk, **one_row))
    assert "{{2}}: “spring_sale (en)” needs a value for it" in response.content.decode()
    assert not Campaign.objects.exists()


def test_gupshups_media_header_is_explained_and_asked_for(staff, gupshup, customers):
    collection = synced(gupshup, GUPSHUP_COLLECTION)
    body_only = rows({"part": "body", "position": 1, "field": "first_name"})
    response = staff.post(ADD, campaign_form(gupshup, [customers], whatsapp_template=collection.pk, **body_only))
    assert "Media URL: “new_collection (en)” needs a value for it" in response.content.decode()
    answer = staff.post(PREVIEW, {"whatsapp_template": collection.pk, **body_only}).json()
    [count, media] = answer["rules"]
    assert count.startswith("It has 1 variable (Body {{1}})")
    assert media.startswith("It starts with an image: Gupshup sends the one whose address is in the “Media URL” row")
    assert "https://example.com/collection.jpg" in media
    with_media = rows(
        {"part": "media", "source": "fixed", "value": "https://example.com/autumn.jpg"},
        {"part": "body", "position": 1, "field": "first_name"},
    )
    response = staff.post(ADD, campaign_form(gupshup, [customers], whatsapp_template=collection.pk, **with_media))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Campaign.objects.get().provider_template == {
        "id": GUPSHUP_COLLECTION,
        "variables": {"MEDIA_URL": "https://example.com/autumn.jpg", "Body": {"1": "{{ first_name }}"}},
    }


def test_the_preview_shows_the_template_as_the_phone_does(staff, whatsapp, make_contact):
    ann = make_contact("+447911123409", "Ann Smith")
    sale = synced(whatsapp, TWILIO_SPRING_SALE)
    one_row = rows({"position": 1, "field": "first_name"})
    answer = staff.post(PREVIEW, {"whatsapp_template": sale.pk, "preview_contact": ann.pk, **one_row}).json()
    preview = answer["preview"]
    assert answer["contact"] == "Ann Smith"
    assert preview["header_media"] == "https://example.com/spring.jpg"
    assert preview["body"] == "Hi Ann, our spring sale starts {{2}}! Up to 40% off."  # {{2}} has no row yet
    assert preview["buttons"] == [{"title": "Shop now", "url": "https://example.com/sale"}]
    assert answer["missing"] and answer["needed"] == [
        {"part": "variable", "position": 1},
        {"part": "variable", "position": 2},
    ]
    samples = staff.post(PREVIEW, {"whatsapp_template": sale.pk, **rows()}).json()
    assert samples["preview"]["body"] == "Hi Ana, our spring sale starts Saturday! Up to 40% off."


def test_a_typed_id_is_taken_where_no_sync_has_run_and_refused_once_synced(
    staff, make_twilio_channel, fake_twilio, customers
):
    never_synced = make_twilio_channel("twlowa", name="New WhatsApp")
    unknown = "HX" + "a" * 32
    variables = rows({"position": 1, "field": "first_name"})
    response = staff.post(ADD, campaign_form(never_synced, [customers], provider_template_id=unknown, **variables))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Campaign.objects.get().provider_template["id"] == unknown
    sync_templates(never_synced)
    for typed, words in ((unknown, "is not one of the 3 templates"), (TWILIO_REJECTED, "is rejected")):
        response = staff.post(
            ADD, campaign_form(never_synced, [customers], name="Again", provider_template_id=typed, **variables)
        )
        assert (
            words in response.content.decode() and "Choose it from the list above instead." in response.content.decode()
        )
    assert Campaign.objects.count() == 1


def test_a_template_of_another_channel_is_refused(staff, whatsapp, gupshup, customers):
    sale = synced(gupshup, GUPSHUP_SALE)
    response = staff.post(ADD, campaign_form(whatsapp, [customers], whatsapp_template=sale.pk, **SALE_ROWS))
    assert "belongs to &#x27;Shop Gupshup&#x27;, not to &#x27;Shop WhatsApp&#x27;" in response.content.decode()


def test_a_form_without_the_picker_keeps_the_campaigns_template(staff, whatsapp, customers):
    template = {"id": TWILIO_SPRING_SALE, "variables": {"1": "{{ name }}", "2": "Saturday"}}
    campaign = Campaign.objects.create(name="API made", channel=whatsapp, provider_template=template)
    campaign.lists.add(customers)
    data = campaign_form(whatsapp, [customers], name="Renamed")
    for name in ("whatsapp_template", "provider_template_id", *rows()):
        data.pop(name)
    response = staff.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Campaign.objects.get().provider_template == template


@pytest.mark.django_db(transaction=True)
def test_the_picker_in_a_browser(page, live_server, nairobi_staff, whatsapp, gupshup, customers):
    log_in(page, live_server, nairobi_staff.username, ADD)
    page.fill("#id_name", "Spring sale")
    page.select_option("#id_channel", str(whatsapp.pk))
    offered = page.eval_on_selector_all(
        "#id_whatsapp_template option:not([hidden])", "options => options.map(o => o.textContent)"
    )
    assert offered == ["None: send the text above", "order_update · en (marketing)", "spring_sale · en (marketing)"]
    assert page.locator(".field-provider_template_id").is_hidden()  # synced: chosen from the list
    sale = synced(whatsapp, TWILIO_SPRING_SALE)
    page.select_option("#id_whatsapp_template", str(sale.pk))
    page.wait_for_selector("#phone-preview:not([hidden])")
    page.wait_for_function("() => document.querySelectorAll('#variables-rows tr.variable-row').length === 2")
    page.wait_for_function(
        "() => document.getElementById('phone-body').textContent.startsWith('Hi Ana, our spring sale starts Saturday')"
    )
    assert page.inner_text("#phone-media").endswith("https://example.com/spring.jpg")
    assert page.inner_text("#phone-buttons") == "Shop now"
    assert "It has 2 variables ({{1}}, {{2}})" in page.inner_text("#template-rules")
    page.select_option("#id_variables-0-field", "first_name")
    page.fill("#id_variables-0-fallback", "friend")
    page.select_option("#id_variables-1-source", "fixed")
    page.fill("#id_variables-1-value", "this Saturday")
    page.wait_for_function("() => document.getElementById('phone-body').textContent.includes('starts this Saturday!')")
    shot(page, "campaign-whatsapp-picker-twilio")

    page.select_option("#id_channel", str(gupshup.pk))  # Gupshup: its own templates, the media rule
    collection = synced(gupshup, GUPSHUP_COLLECTION)
    page.select_option("#id_whatsapp_template", str(collection.pk))
    page.wait_for_function(
        "() => document.getElementById('template-rules-list').textContent.includes('Gupshup sends the one')"
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#variables-rows tr.variable-row:not([hidden])').length === 2"
    )
    page.wait_for_function(
        "() => document.getElementById('template-rules-list').textContent.includes('Some rows are not complete')"
    )
    media_row = page.locator("#variables-rows tr.variable-row:not([hidden])").nth(0)
    assert media_row.locator("input[name$=-value]").input_value() == "https://example.com/collection.jpg"
    shot(page, "campaign-whatsapp-picker-gupshup-media-rule")
    page.select_option("#id_channel", str(whatsapp.pk))
    page.select_option("#id_whatsapp_template", str(sale.pk))
    page.wait_for_function(
        "() => document.getElementById('template-rules-list').textContent.includes('It has 2 variables')"
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#variables-rows tr.variable-row:not([hidden])').length === 2"
    )
    visible = page.locator("#variables-rows tr.variable-row:not([hidden])")
    visible.nth(0).locator("select[name$=-field]").select_option("first_name")
    visible.nth(1).locator("select[name$=-source]").select_option("fixed")
    visible.nth(1).locator("input[name$=-value]").fill("Saturday")
    page.evaluate(  # the lists' search box (select2) is Django's own: the choice is made as it makes one
        "list => document.getElementById('id_lists').add(new Option('Customers', list, true, true))",
        str(customers.pk),
    )
    local_day = timezone.localdate() + timedelta(days=3)
    page.fill("#id_scheduled_at_0", local_day.isoformat())
    page.fill("#id_scheduled_at_1", "09:30")
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    shot(page, "campaign-whatsapp-picker-after-save")
    page.wait_for_selector("#campaign-state")
    campaign = Campaign.objects.get()
    assert campaign.provider_template == {
        "id": TWILIO_SPRING_SALE,
        "variables": {"1": "{{ first_name }}", "2": "Saturday"},
    }
    state = page.inner_text("#campaign-state")
    assert "09:30" in state and ("EAT" in state or "Nairobi" in state), state  # the viewer's zone, named
    shot(page, "campaign-whatsapp-picker-saved")


def test_a_started_campaign_shows_its_template_by_name(staff, whatsapp, customers):
    template = {"id": TWILIO_SPRING_SALE, "variables": {"1": "{{ name }}", "2": "Saturday"}}
    campaign = Campaign.objects.create(
        name="Gone", channel=whatsapp, provider_template=template, status=Campaign.Status.RUNNING
    )
    campaign.lists.add(customers)
    page = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert f"“spring_sale (en)” ({TWILIO_SPRING_SALE}), values:" in page
    assert 'id="whatsapp-picker"' not in page  # nothing to choose once it started
