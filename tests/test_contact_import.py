"""Contacts from CSV: numbers normalised, extra columns kept for placeholders, bad rows named."""

from __future__ import annotations

import pytest
import tablib

from contacts.admin import ContactResource
from contacts.models import Contact

pytestmark = pytest.mark.django_db


def import_csv(text: str, dry_run: bool = False):
    dataset = tablib.Dataset().load(text, format="csv")
    return ContactResource().import_data(dataset, dry_run=dry_run)


def test_contacts_are_imported_with_normalised_numbers_and_extra_columns():
    result = import_csv("phone,name,city\n447911123456,Ann Smith,Leeds\n+1 415 555 2671,Bob,York\n")
    assert not result.has_errors() and not result.has_validation_errors()
    ann = Contact.objects.get(phone="+447911123456")
    assert (ann.name, ann.extra_fields) == ("Ann Smith", {"city": "Leeds"})
    assert Contact.objects.get(phone="+14155552671").extra_fields == {"city": "York"}


def test_importing_again_updates_by_number_and_keeps_other_extra_fields(make_contact):
    make_contact("+447911123456", "Ann", city="Leeds", tier="gold")
    import_csv("phone,name,city\n+447911123456,Ann Smith,Hull\n")
    ann = Contact.objects.get(phone="+447911123456")
    assert (ann.name, ann.extra_fields) == ("Ann Smith", {"city": "Hull", "tier": "gold"})
    assert Contact.objects.count() == 1


def test_a_bad_number_is_reported_with_its_row_and_value():
    result = import_csv("phone,name\nnot-a-number,Ann\n+447911123456,Bob\n")
    assert result.has_validation_errors() or result.has_errors()
    errors = [str(e.error) for _, row_errors in result.row_errors() for e in row_errors]
    errors += [str(row.error) for row in result.invalid_rows]
    assert any("'not-a-number'" in error for error in errors), errors
