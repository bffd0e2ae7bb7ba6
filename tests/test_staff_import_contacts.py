"""A staff member imports contacts from a CSV file in the admin, in a real browser."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from contacts.models import Contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_import_a_csv_of_contacts(page, live_server, tmp_path):
    get_user_model().objects.create_superuser("maria", "maria@example.com", "a-long-test-password")
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("phone,name,city\n447911123456,Ann Smith,Leeds\n+1 415 555 2671,Bob Jones,York\n")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/contacts/contact/import/")
    page.fill("#id_username", "maria")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    page.set_input_files("#id_import_file", str(csv_file))
    page.select_option("#id_format", label="csv")
    page.click("input[type=submit]")
    page.wait_for_selector("input[name=confirm], input[value='Confirm import']")
    assert "Ann Smith" in page.content()
    page.click("input[name=confirm], input[value='Confirm import']")
    page.wait_for_selector(".messagelist .success")

    assert dict(Contact.objects.values_list("phone", "name")) == {
        "+447911123456": "Ann Smith",
        "+14155552671": "Bob Jones",
    }
    assert Contact.objects.get(phone="+447911123456").extra_fields == {"city": "Leeds"}
