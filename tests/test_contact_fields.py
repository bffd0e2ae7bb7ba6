"""Which fields contacts have for placeholders, and how many recipients of a list lack them."""

from __future__ import annotations

import pytest

from campaigns.content.contact_fields import contact_field_names, count_lacking
from contacts.models import Contact

pytestmark = pytest.mark.django_db


def test_built_in_fields_come_first_then_extra_fields_seen_on_contacts(make_contact):
    make_contact("+447911000001", "Ann", city="Leeds", shoe_size=5)
    make_contact("+447911000002", "Bob", city="York", vip="yes")
    assert contact_field_names() == ["name", "first_name", "phone", "city", "shoe_size", "vip"]


def test_keys_no_placeholder_could_name_are_not_offered(make_contact):
    make_contact("+447911000001", "Ann", **{"2nd_line": "x", "first name": "A", "città": "Roma", "zip": "1"})
    assert contact_field_names() == ["name", "first_name", "phone", "zip"]


def test_the_list_of_fields_is_bounded(make_contact):
    make_contact("+447911000001", "Ann", **{f"field_{i:03d}": "x" for i in range(300)})
    names = contact_field_names(limit=20)
    assert len(names) == 20 and names[3] == "field_000"


def test_recipients_lacking_a_field_are_counted_per_field(make_contact):
    make_contact("+447911000001", "Ann Smith", city="Leeds", code="A1")
    make_contact("+447911000002", "", city="", code="B2")
    make_contact("+447911000003", "   ", code=None)
    make_contact("+447911000004", "Dee")
    text = 'Hi {{ first_name }}, {{ city }} {{ code }} {{ phone }} {{ shop|default:"our shop" }}'
    assert count_lacking(text, Contact.objects.all()) == {"first_name": 2, "city": 3, "code": 2, "phone": 0}


def test_a_field_used_with_and_without_default_is_counted(make_contact):
    make_contact("+447911000001", "Ann")
    assert count_lacking('{{ city|default:"x" }} {{ city }}', Contact.objects.all()) == {"city": 1}
    assert count_lacking('{{ city|default:"x" }}', Contact.objects.all()) == {}
