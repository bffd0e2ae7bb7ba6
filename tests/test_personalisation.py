"""Placeholders in message text: fields, first_name, defaults, unknown fields, no HTML escaping."""

from __future__ import annotations

import pytest

from campaigns.content.personalisation import (
    CompiledText,
    compile_text,
    contact_context,
    missing_fields,
    placeholders,
    recipient_context,
    render,
)

ANN = recipient_context(phone="+447911123456", name="Ann Smith", extra_fields={"city": "Leeds", "points": 0})


def test_name_first_name_phone_and_extra_fields_are_filled_in():
    text = "Hi {{ first_name }} ({{name}}), {{ city }} store, {{ phone }}"
    assert render(text, ANN) == "Hi Ann (Ann Smith), Leeds store, +447911123456"


def test_first_name_is_the_first_word_of_the_name_whatever_the_spacing():
    assert recipient_context(name="  Bob   de Vries ")["first_name"] == "Bob"
    assert recipient_context(name="")["first_name"] == ""


def test_a_first_name_given_with_the_message_wins_over_the_derived_one():
    context = recipient_context(name="Robert Jones", variables={"first_name": "Bob"})
    assert render("Hi {{ first_name }}", context) == "Hi Bob"


def test_message_variables_win_over_the_contacts_own_values():
    context = recipient_context(name="Ann", extra_fields={"city": "Leeds"}, variables={"city": "York"})
    assert render("{{ city }}", context) == "York"


def test_a_default_is_used_when_the_recipient_has_no_value_or_a_blank_one():
    text = 'See you in {{ city|default:"your town" }}!'
    assert render(text, {}) == "See you in your town!"
    assert render(text, {"city": "   "}) == "See you in your town!"
    assert render(text, {"city": None}) == "See you in your town!"
    assert render(text, {"city": "Leeds"}) == "See you in Leeds!"


def test_default_takes_single_quotes_and_numbers_and_keeps_zero_as_a_value():
    assert render("{{ a|default:'x' }}/{{ b | default : 5 }}", {}) == "x/5"
    assert render('You have {{ points|default:"no" }} points', ANN) == "You have 0 points"


def test_the_fields_a_text_uses_are_listed_once_in_order():
    text = 'Hi {{ first_name }}, {{ city|default:"there" }} {{ first_name }} {{ shop.name }}'
    assert placeholders(text) == ["first_name", "city", "shop.name"]


def test_fields_a_recipient_lacks_are_found_before_sending_and_defaults_are_not_lacking():
    text = 'Hi {{ first_name }}, your code {{ code }} for {{ city|default:"there" }}'
    assert missing_fields(text, ANN) == ["code"]
    assert missing_fields(text, recipient_context(phone="+1")) == ["first_name", "code"]


def test_a_misspelt_field_no_contact_has_is_reported_as_unknown():
    compiled = compile_text("Hi {{ frist_name }}, {{ city }} {{ shop.name }}")
    assert compiled.unknown(["name", "first_name", "phone", "city", "shop"]) == ["frist_name"]


def test_html_is_never_escaped_in_text_or_values():
    context = {"name": "Tom & Jerry <b>", "quote": '"hi"'}
    assert render("<p>{{ name }} & {{ quote }} 'x'</p>", context) == "<p>Tom & Jerry <b> & \"hi\" 'x'</p>"


def test_braces_that_are_not_placeholders_stay_as_written():
    text = "Use code {SAVE10} or {x}} {{ name }} }}"
    assert render(text, {"name": "Ann"}) == "Use code {SAVE10} or {x}} Ann }}"


def test_unsupported_syntax_is_reported_naming_the_placeholder_and_kept_visible():
    compiled = compile_text("{{ name|upper }} {% if vip %}VIP{% endif %} {{ }} {{ 1st }}")
    assert compiled.names == []
    assert compiled.problems == (
        "{{ name|upper }}: only the default filter is supported, with the text in quotes, "
        'e.g. {{ city|default:"there" }}.',
        "{{ }}: an empty placeholder; write a field name such as {{ name }}.",
        "{{ 1st }}: not a field name; use plain letters (a-z), digits and _ such as {{ first_name }}.",
        "{% if vip %}: tags are not supported, only placeholders such as {{ name }}.",
        "{% endif %}: tags are not supported, only placeholders such as {{ name }}.",
    )
    assert compiled.render({"name": "Ann"}).startswith("{{ name|upper }} {% if vip %}")


def test_field_names_are_ascii_as_in_the_browser():
    assert compile_text("{{ citt\u00e0 }}").problems == (
        "{{ citt\u00e0 }}: not a field name; use plain letters (a-z), digits and _ such as {{ first_name }}.",
    )


def test_dotted_names_read_nested_values_only_from_mappings():
    assert render("{{ shop.name }}", {"shop": {"name": "Main St"}}) == "Main St"
    assert render("{{ name.upper }}", {"name": "ann"}) == ""  # never a method call


def test_a_text_is_compiled_once_and_reused():
    assert compile_text("Hi {{ name }}") is compile_text("Hi {{ name }}")
    compiled = CompiledText("Hi {{ name }}")
    assert [compiled.render({"name": n}) for n in ("A", "B")] == ["Hi A", "Hi B"]


@pytest.mark.django_db
def test_a_contacts_context_has_its_fields(make_contact):
    contact = make_contact(name="Ann Smith", city="Leeds")
    context = contact_context(contact, variables={"code": "X1"})
    assert render("{{ first_name }} {{ city }} {{ code }} {{ phone }}", context) == f"Ann Leeds X1 {contact.phone}"
    assert contact_context(None, phone="+15005550006")["phone"] == "+15005550006"
