"""Only an explicit opt-in re-subscribes: a START reply, or a staff member who says why (and is recorded)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact, OptInRecord

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/contacts/contact/"


@pytest.fixture
def sam(db):
    return get_user_model().objects.create_superuser("sam", "sam@example.com", "pw-for-tests-only")


@pytest.fixture
def staff(client, sam):
    client.force_login(sam)
    return client


@pytest.fixture
def stopped(make_contact) -> Contact:
    contact = make_contact("+447911123456", "Ann Stopped")
    Contact.opt_out_phone(contact.phone, "Replied STOP")
    contact.refresh_from_db()
    return contact


def opt_in(client, ids, select_across=False, query="", **answer):
    data = {"action": "opt_in", "_selected_action": [str(pk) for pk in ids], "select_across": int(select_across)}
    data.update({**answer, "apply": "yes"} if answer else {"index": "0"})
    return client.post(f"{CHANGELIST}{query}", data)


def test_opting_back_in_asks_for_a_reason_first(staff, stopped):
    response = opt_in(staff, [stopped.pk])
    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()
    assert "1 of them opted out" in response.content.decode()
    response = opt_in(staff, [stopped.pk], reason="")
    assert "This field is required" in response.content.decode()
    stopped.refresh_from_db()
    assert stopped.is_opted_out and not OptInRecord.objects.exists()


def test_staff_opt_in_records_who_why_when_and_what_was_lifted(staff, sam, stopped, make_contact):
    subscribed = make_contact("+447911123457", "Bob Subscribed")
    opted_out_at = stopped.opted_out_at
    response = opt_in(staff, [stopped.pk, subscribed.pk], reason="Asked at the counter on 3 May")
    assert response.status_code == 302
    stopped.refresh_from_db()
    assert not stopped.is_opted_out and stopped.opt_out_reason == ""
    [record] = OptInRecord.objects.all()
    assert (record.contact, record.source, record.by, record.by_label) == (stopped, "staff", sam, "sam")
    assert record.reason == "Asked at the counter on 3 May"
    assert (record.previous_opted_out_at, record.previous_opt_out_reason) == (opted_out_at, "Replied STOP")
    assert "1 contact(s) opted back in" in next(str(m) for m in staff.get(response.url).context["messages"])
    page = staff.get(f"{CHANGELIST}{stopped.pk}/change/").content.decode()
    assert "Asked at the counter on 3 May" in page  # the history shows on the contact


def test_all_matching_opted_out_contacts_are_opted_in_in_constant_queries(staff, django_assert_max_num_queries):
    done = []
    for size in (5, 60):
        Contact.objects.all().delete()
        Contact.objects.bulk_create(
            Contact(phone=f"+4479111{n:05d}", name=f"Ann {n}", opted_out_at="2026-01-01T00:00Z", opt_out_reason="STOP")
            for n in range(size)
        )
        first = Contact.objects.first()
        with CaptureQueriesContext(connection) as queries:
            opt_in(staff, [first.pk], True, "?subscription=opted_out", reason="Re-consented on the web form")
        assert not Contact.objects.filter(opted_out_at__isnull=False).exists()
        assert OptInRecord.objects.filter(contact__in=Contact.objects.all()).count() == size
        done.append(len(queries))
    assert done[0] == done[1], "the query count grew with the selection"
    with django_assert_max_num_queries(done[0]):
        opt_in(staff, [first.pk], True, "", reason="Again, nothing to do")


def test_a_start_reply_opts_in_and_is_recorded(stopped):
    Contact.opt_in_phone(stopped.phone)
    stopped.refresh_from_db()
    assert not stopped.is_opted_out
    [record] = stopped.opt_ins.all()
    assert record.source == OptInRecord.Source.REPLY and record.by is None
    Contact.opt_in_phone(stopped.phone)  # a second START changes nothing and records nothing
    assert stopped.opt_ins.count() == 1
    Contact.opt_in_phone("+15005550000")  # a number we never saw: nothing to do


def test_saving_the_contact_page_never_re_subscribes(staff, stopped):
    url = f"{CHANGELIST}{stopped.pk}/change/"
    page = staff.get(url).content.decode()
    assert "contact-opted-out-banner" in page and "Opted out on" in page
    form = {
        "phone": stopped.phone,
        "name": "Ann Renamed",
        "extra_fields": "{}",
        "opted_out_at": "",
        "opt_out_reason": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "opt_ins-TOTAL_FORMS": "0",
        "opt_ins-INITIAL_FORMS": "0",
    }
    assert staff.post(url, form).status_code == 302
    stopped.refresh_from_db()
    assert stopped.name == "Ann Renamed" and stopped.is_opted_out


def test_opted_out_contacts_stand_out_on_the_list(staff, stopped, make_contact):
    make_contact("+447911123457", "Bob Subscribed")
    page = staff.get(CHANGELIST).content.decode()
    assert page.count('class="contact-opted-out"') == 1
    assert page.count('class="contact-subscribed"') == 1
