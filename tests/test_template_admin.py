"""The message template page: provider templates as form rows, validation naming field and value,
and the JSON preview for a chosen contact."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.api.validation import Problems, gupshup_template, twilio_template
from campaigns.content.personalisation import recipient_context, render
from campaigns.models import MessageTemplate
from providers.gupshup.provider import template_params

pytestmark = pytest.mark.django_db
SID = "HX" + "0123456789abcdef" * 2
ADD_URL = reverse("admin:campaigns_messagetemplate_add")
PREVIEW_URL = reverse("admin:campaigns_messagetemplate_preview")


def rows(*variables: dict) -> dict[str, str]:
    """The formset's POST fields for these rows."""
    data = {
        "variables-TOTAL_FORMS": str(len(variables)),
        "variables-INITIAL_FORMS": "0",
        "variables-MIN_NUM_FORMS": "0",
        "variables-MAX_NUM_FORMS": "1000",
    }
    for index, variable in enumerate(variables):
        row = {"part": "variable", "position": "", "source": "field", "field": "", "fallback": "", "value": ""}
        row.update(variable)
        data.update({f"variables-{index}-{key}": str(value) for key, value in row.items()})
    return data


def template_form(**fields) -> dict[str, str]:
    data = {"name": "Spring sale", "body": "", "media_url": "", "provider_kind": "", "provider_template_id": ""}
    data.update(rows())
    data.update(fields)
    return data


def errors_of(response) -> str:
    assert response.status_code == 200, "expected the form again, with errors"
    return response.content.decode()


def test_a_text_template_is_saved_and_its_page_never_shows_null(staff, make_contact):
    make_contact(city="Leeds")
    response = staff.post(ADD_URL, template_form(body='Hi {{ first_name }}, see you in {{ city|default:"town" }}'))
    assert response.status_code == 302
    template = MessageTemplate.objects.get()
    assert template.provider_template is None
    page = staff.get(reverse("admin:campaigns_messagetemplate_change", args=[template.pk])).content.decode()
    assert "null" not in page
    assert 'id="template-live"' in page and "segment-tables" in page


def test_a_twilio_content_template_is_stored_in_the_shape_the_api_and_provider_take(staff, make_contact):
    make_contact(city="Leeds")
    data = template_form(provider_kind="twilio", provider_template_id=SID)
    data.update(
        rows(
            {"position": 1, "field": "first_name", "fallback": "friend"},
            {"position": 2, "source": "fixed", "value": "20% off"},
            {"position": 3, "field": "city"},
        )
    )
    assert staff.post(ADD_URL, data).status_code == 302
    stored = MessageTemplate.objects.get().provider_template
    assert stored == {
        "id": SID,
        "variables": {"1": '{{ first_name|default:"friend" }}', "2": "20% off", "3": "{{ city }}"},
    }
    problems = Problems()
    assert twilio_template(stored["id"], stored["variables"], problems) is not None and not problems.messages
    ann = recipient_context(name="Ann Smith", extra_fields={"city": "Leeds"})
    assert {k: render(v, ann) for k, v in stored["variables"].items()} == {"1": "Ann", "2": "20% off", "3": "Leeds"}
    assert render(stored["variables"]["1"], recipient_context(phone="+1")) == "friend"


def test_a_gupshup_template_keeps_media_header_body_and_buttons(staff):
    data = template_form(provider_kind="gupshup", provider_template_id="spring_sale_v2")
    data.update(
        rows(
            {"part": "media", "source": "fixed", "value": "https://example.com/sale.jpg"},
            {"part": "header", "position": 1, "source": "fixed", "value": "Spring"},
            {"part": "body", "position": 2, "source": "fixed", "value": "Friday"},
            {"part": "body", "position": 1, "field": "name"},
            {"part": "buttons", "position": 1, "field": "phone"},
        )
    )
    assert staff.post(ADD_URL, data).status_code == 302
    stored = MessageTemplate.objects.get().provider_template
    assert stored == {
        "id": "spring_sale_v2",
        "variables": {
            "MEDIA_URL": "https://example.com/sale.jpg",
            "Header": {"1": "Spring"},
            "Body": {"2": "Friday", "1": "{{ name }}"},
            "Buttons": {"1": "{{ phone }}"},
        },
    }
    problems = Problems()
    assert gupshup_template(stored["id"], stored["variables"], problems) is not None and not problems.messages
    assert template_params(stored) == ["Spring", "{{ name }}", "Friday", "{{ phone }}"]


def test_a_saved_provider_template_comes_back_as_rows(staff):
    template = MessageTemplate.objects.create(
        name="Reminder",
        provider_template={"id": SID, "variables": {"2": "fixed text", "1": "{{ city|default:'there' }}"}},
    )
    page = staff.get(reverse("admin:campaigns_messagetemplate_change", args=[template.pk])).content.decode()
    assert f'value="{SID}"' in page
    assert 'name="variables-0-fallback" value="there"' in page
    assert 'name="variables-1-value" value="fixed text"' in page
    assert "null" not in page


def test_saving_an_unchanged_template_keeps_its_variables(staff):
    stored = {"id": SID, "variables": {"1": "{{ name }}", "2": "fixed text"}}
    template = MessageTemplate.objects.create(name="Reminder", body="Hi", provider_template=stored)
    data = template_form(name="Reminder", body="Hi", provider_kind="twilio", provider_template_id=SID)
    data.update(rows({"position": 1, "field": "name"}, {"position": 2, "source": "fixed", "value": "fixed text"}))
    data["variables-INITIAL_FORMS"] = "2"
    response = staff.post(reverse("admin:campaigns_messagetemplate_change", args=[template.pk]), data)
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.provider_template == stored


@pytest.mark.parametrize(
    ("fields", "variables", "message"),
    [
        (
            {"provider_kind": "twilio", "provider_template_id": "HX123"},
            [],
            "Template id: &#x27;HX123&#x27; is not a Twilio Content SID (HX followed by 32 hexadecimal digits).",
        ),
        (
            {"provider_kind": "gupshup", "provider_template_id": "has spaces"},
            [],
            "Template id: &#x27;has spaces&#x27; is not a Gupshup template id",
        ),
        ({"provider_kind": "twilio"}, [], "Template id: give the provider&#x27;s template id."),
        (
            {"media_url": "ftp://example.com/a.jpg", "body": "x"},
            [],
            "Media URL: &#x27;ftp://example.com/a.jpg&#x27; is not an http(s) address a provider can fetch.",
        ),
        ({"body": "Hi {{ name|upper }}"}, [], "Text: {{ name|upper }}: only the default filter is supported"),
        ({}, [], "A template needs text, a media URL or a provider template."),
        (
            {"provider_kind": "twilio", "provider_template_id": SID},
            [{"position": 1, "field": "name"}, {"position": 3, "field": "name"}],
            "{{2}}: missing; the template&#x27;s variables are numbered from 1.",
        ),
        (
            {"provider_kind": "twilio", "provider_template_id": SID},
            [{"position": 1, "field": "name"}, {"position": 1, "source": "fixed", "value": "x"}],
            "{{1}}: given twice; keep one row for it.",
        ),
        (
            {"provider_kind": "gupshup", "provider_template_id": "sale"},
            [{"part": "media", "source": "fixed", "value": "not a url"}],
            "Media URL: &#x27;not a url&#x27; is not an http(s) address.",
        ),
        (
            {"provider_kind": "gupshup", "provider_template_id": "sale"},
            [{"part": "variable", "position": 1, "field": "name"}],
            "{{1}}: a Gupshup template (WhatsApp) takes Body, Buttons, Header, Media URL rows.",
        ),
        (
            {"provider_kind": "twilio", "provider_template_id": SID},
            [{"position": 1, "source": "fixed", "value": ""}],
            "Type the fixed value, or fill it from a contact field.",
        ),
        (
            {"provider_kind": "twilio", "provider_template_id": SID},
            [{"position": 1, "source": "field", "field": ""}],
            "Choose the contact field this variable is filled from.",
        ),
    ],
)
def test_a_wrong_template_is_refused_naming_the_field_and_the_value(staff, fields, variables, message):
    data = template_form(**fields)
    data.update(rows(*variables))
    page = errors_of(staff.post(ADD_URL, data))
    assert message in page
    assert not MessageTemplate.objects.exists()


def test_a_field_no_contact_has_is_saved_with_a_warning(staff, make_contact):
    make_contact(city="Leeds")
    response = staff.post(ADD_URL, template_form(body="Hi {{ frist_name }} in {{ city }}"), follow=True)
    warnings = [str(m) for m in response.context["messages"]]
    assert any("No contact has {{ frist_name }} yet" in text for text in warnings), warnings


def test_the_preview_renders_for_the_chosen_contact_and_counts_it(staff, make_contact):
    ann = make_contact(name="Ann Smith", city="Leeds")
    body = "Hi {{ first_name }}, it\u2019s {{ city }} day! Code {{ code }} {{ frist }}"
    answer = staff.post(PREVIEW_URL, {"body": body, "preview_contact": str(ann.pk)}).json()
    assert answer["text"] == "Hi Ann, it\u2019s Leeds day! Code  "
    assert answer["contact"] == "Ann Smith"
    assert answer["missing"] == ["code", "frist"]
    assert answer["unknown"] == ["code", "frist"]
    assert answer["count"]["encoding"] == "UCS-2"
    assert answer["count"]["forcing"][0]["code_point"] == "U+2019"
    assert answer["context"]["city"] == "Leeds"


def test_the_preview_shows_provider_variables_for_the_contact(staff, make_contact):
    ann = make_contact(name="Ann Smith")
    data = {"body": "", "preview_contact": str(ann.pk), "provider_kind": "twilio"}
    data.update(rows({"position": 1, "field": "first_name"}, {"position": 2, "field": "city", "fallback": "town"}))
    answer = staff.post(PREVIEW_URL, data).json()
    assert answer["variables"] == [
        {"label": "{{1}}", "value": "Ann", "lacking": False},
        {"label": "{{2}}", "value": "town", "lacking": False},
    ]


def test_the_preview_is_for_staff_only_and_post_only(client, staff):
    assert staff.get(PREVIEW_URL).status_code == 405
    client.logout()
    response = client.post(PREVIEW_URL, {"body": "x"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_list_shows_kind_and_sms_length(staff):
    MessageTemplate.objects.create(name="Long", body="a" * 161)
    MessageTemplate.objects.create(name="Twilio", provider_template={"id": SID, "variables": {}})
    page = staff.get(reverse("admin:campaigns_messagetemplate_changelist")).content.decode()
    assert "2 segments (GSM-7)" in page
    assert f"Twilio template {SID}" in page
