"""A staff member writes a message template in a real browser: the counter sees a curly quote make
it UCS-2 and points at it, the preview shows a chosen contact's message, and the provider
template's variables are rows."""

from __future__ import annotations

import pytest

from campaigns.models import MessageTemplate
from contacts.models import Contact
from tests.browser import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SID = "HX" + "0123456789abcdef" * 2


def open_the_editor(page, live_server) -> None:
    page.set_default_timeout(30_000)  # the preview is a server round trip; a busy CI machine is slow
    log_in(page, live_server, "maria", "/admin/campaigns/messagetemplate/add/")


def choose_contact(page, search: str) -> None:
    page.click(".field-preview_contact .select2-selection")
    page.fill(".select2-search__field", search)
    page.click(f".select2-results__option:has-text('{search}')")


def test_staff_write_a_template_see_ucs2_pointed_at_and_preview_it_for_a_contact(page, live_server, administrator):
    Contact.objects.create(phone="+447911123456", name="Ann Smith", extra_fields={"city": "Leeds"})
    Contact.objects.create(phone="+447911123457", name="Bob Jones", extra_fields={})
    open_the_editor(page, live_server)

    page.fill("#id_name", "Spring sale")
    page.locator("#id_body").press_sequentially('Hi {{ first_name }}, it\u2019s sale day in {{ city|default:"town" }}!')
    counter = page.locator("#template-counter")
    page.wait_for_function("() => document.getElementById('template-live').dataset.encoding === 'UCS-2'")
    assert "UCS-2" in counter.inner_text()
    culprit = page.locator(".forcing-item[data-code-point='U+2019']")
    assert culprit.inner_text().endswith(
        "right curly quote (apostrophe) (U+2019), first at character 24 of the text; replace with '"
    )
    assert page.locator("#template-marked mark.ucs2").inner_text() == "\u2019"
    page.wait_for_function("() => document.getElementById('preview-text').textContent.includes('town')")
    shot(page, "templates/1-ucs2-pointed-at")

    culprit.locator("button.forcing-char").click()  # selects the character in the text
    selected = page.evaluate(
        "(() => { const b = document.getElementById('id_body');"
        " return b.value.slice(b.selectionStart, b.selectionEnd); })()"
    )
    assert selected == "\u2019"

    choose_contact(page, "Ann Smith")
    page.wait_for_function("() => document.getElementById('preview-text').textContent.startsWith('Hi Ann, it')")
    assert page.locator("#preview-text").inner_text() == "Hi Ann, it\u2019s sale day in Leeds!"
    assert "counted for Ann Smith" in counter.inner_text()
    assert "31 characters, 1 segment (39 left in the last)" in counter.inner_text()
    shot(page, "templates/2-preview-for-ann")

    page.click("#replace-lookalikes")
    page.wait_for_function("() => document.getElementById('template-live').dataset.encoding === 'GSM-7'")
    assert page.locator("#template-forcing").is_hidden()
    page.wait_for_function("() => document.getElementById('preview-text').textContent.includes(\"it's\")")
    shot(page, "templates/3-back-to-gsm7")

    page.check("input[name=provider_kind][value=twilio]")
    page.fill("#id_provider_template_id", SID)
    page.click("#add-variable")
    page.select_option("select[name=variables-0-field]", "first_name")
    page.fill("input[name=variables-0-fallback]", "friend")
    page.click("#add-variable")
    page.select_option("select[name=variables-1-source]", "fixed")
    page.fill("input[name=variables-1-value]", "20% off")
    page.wait_for_function("() => document.getElementById('preview-variables').innerText.includes('20% off')")
    assert page.locator("#preview-variables").inner_text().split("\n")[1:] == ["{{1}}\tAnn", "{{2}}\t20% off"]
    shot(page, "templates/4-twilio-variables")

    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    shot(page, "templates/5-saved")
    template = MessageTemplate.objects.get()
    assert template.body == 'Hi {{ first_name }}, it\'s sale day in {{ city|default:"town" }}!'
    assert template.provider_template == {
        "id": SID,
        "variables": {"1": '{{ first_name|default:"friend" }}', "2": "20% off"},
    }
    assert page.input_value("select[name=variables-0-field]") == "first_name"
    assert "null" not in page.content()


def test_staff_fill_a_gupshup_templates_media_and_body_variables(page, live_server, administrator):
    Contact.objects.create(phone="+447911123456", name="Ann Smith", extra_fields={"city": "Leeds"})
    open_the_editor(page, live_server)
    page.fill("#id_name", "Gupshup sale")
    page.check("input[name=provider_kind][value=gupshup]")
    assert page.locator("#template-variables th.part-column").is_visible()
    page.fill("#id_provider_template_id", "spring_sale_v2")
    page.click("#add-variable")
    page.select_option("select[name=variables-0-part]", "media")
    page.select_option("select[name=variables-0-source]", "fixed")
    page.fill("input[name=variables-0-value]", "https://example.com/sale.jpg")
    page.click("#add-variable")
    page.select_option("select[name=variables-1-part]", "body")
    page.fill("input[name=variables-1-position]", "1")
    page.select_option("select[name=variables-1-field]", "city")
    choose_contact(page, "Ann Smith")
    page.wait_for_function("() => document.getElementById('preview-variables').innerText.includes('Leeds')")
    assert page.locator("#preview-variables").inner_text().split("\n")[1:] == [
        "Media URL\thttps://example.com/sale.jpg",
        "Body {{1}}\tLeeds",
    ]
    shot(page, "templates/6-gupshup-variables")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert MessageTemplate.objects.get().provider_template == {
        "id": "spring_sale_v2",
        "variables": {"MEDIA_URL": "https://example.com/sale.jpg", "Body": {"1": "{{ city }}"}},
    }
