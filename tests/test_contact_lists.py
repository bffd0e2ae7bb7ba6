"""Staff put contacts into lists in bulk from the contact changelist, for a selection or all matching."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import jobs
from contacts.models import Contact, ContactList, ListMembership

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/contacts/contact/"


def make_contacts(count: int, prefix: str = "+4479111", name: str = "Ann") -> list[Contact]:
    return Contact.objects.bulk_create(
        Contact(phone=f"{prefix}{n:05d}", name=f"{name} {n}", extra_fields={}) for n in range(count)
    )


def act(client, action: str, ids=(), select_across: bool = False, query: str = "", **answer):
    """Post the action as the changelist does; with ``answer`` also the confirmation page's form."""
    data = {
        "action": action,
        "_selected_action": [str(pk) for pk in ids],
        "select_across": "1" if select_across else "0",
    }
    if answer:
        data.update(answer, apply="yes")
    else:
        data["index"] = "0"
    return client.post(f"{CHANGELIST}{query}", data)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def test_add_to_list_first_asks_which_list(staff):
    contacts = make_contacts(3)
    response = act(staff, "add_to_list", [c.pk for c in contacts])
    assert response.status_code == 200
    page = response.content.decode()
    assert "3 selected contacts" in page
    assert 'name="new_list_name"' in page
    assert ListMembership.objects.count() == 0


def test_adding_a_selection_to_a_new_list_creates_it_with_them(staff):
    contacts = make_contacts(3)
    response = act(staff, "add_to_list", [c.pk for c in contacts[:2]], new_list_name="Spring offer")
    assert response.status_code == 302
    spring = ContactList.objects.get(name="Spring offer")
    assert set(spring.contacts.all()) == set(contacts[:2])
    assert "Added 2 contact(s) to new list" in messages_of(staff.get(response.url))[0]


def test_adding_again_says_how_many_were_already_there(staff, make_list):
    contacts = make_contacts(4)
    vip = make_list("VIP", contacts[:1])
    response = act(staff, "add_to_list", [c.pk for c in contacts[:3]], contact_list=vip.pk)
    assert vip.contacts.count() == 3
    [message] = messages_of(staff.get(response.url))
    assert "Added 2 contact(s)" in message
    assert "1 were already in it" in message


def test_all_matching_the_search_and_filter_are_added_in_constant_queries(
    staff, make_list, django_assert_max_num_queries
):
    """Select-across hands the action the filtered set: it must go to the database in one INSERT ... SELECT."""
    make_contacts(30, prefix="+4479111", name="Ann")
    make_contacts(20, prefix="+4479222", name="Bob")
    for size in (5, 50):
        ListMembership.objects.all().delete()
        ContactList.objects.all().delete()
        Contact.objects.filter(phone__startswith="+4479333").delete()
        make_contacts(size, prefix="+4479333", name="Ann")
        target = ContactList.objects.create(name="Anns")
        visible = list(Contact.objects.filter(name__startswith="Ann").values_list("pk", flat=True)[:3])
        with CaptureQueriesContext(connection) as queries:
            act(staff, "add_to_list", visible, select_across=True, query="?q=ann", contact_list=target.pk)
        assert target.contacts.count() == 30 + size
        assert not target.contacts.filter(name__startswith="Bob").exists()
        if size == 5:
            few = len(queries)
        else:
            assert len(queries) == few, "the query count grew with the selection"
    with django_assert_max_num_queries(few):
        act(staff, "add_to_list", visible, select_across=True, query="?q=ann", contact_list=target.pk)


def test_all_matching_a_list_filter_can_be_removed_from_it(staff, make_list, django_assert_max_num_queries):
    contacts = make_contacts(40)
    vip = make_list("VIP", contacts[:30])
    other = make_list("Other", contacts[:10])
    with django_assert_max_num_queries(12):
        response = act(staff, "remove_from_list", [contacts[0].pk], True, f"?list={other.pk}", contact_list=vip.pk)
    assert response.status_code == 302
    assert vip.contacts.count() == 20  # the 10 in "Other" left VIP
    assert other.contacts.count() == 10
    assert "Removed 10 contact(s)" in messages_of(staff.get(response.url))[0]


def test_create_a_list_from_the_selection(staff):
    contacts = make_contacts(5)
    response = act(staff, "create_list", [c.pk for c in contacts[1:4]], name="Met at the fair", description="May")
    assert response.status_code == 302
    fair = ContactList.objects.get(name="Met at the fair")
    assert fair.description == "May"
    assert set(fair.contacts.all()) == set(contacts[1:4])


def test_a_list_name_already_taken_is_refused_and_nothing_is_saved(staff, make_list):
    contacts = make_contacts(2)
    make_list("VIP", [])
    response = act(staff, "create_list", [c.pk for c in contacts], name="VIP")
    assert response.status_code == 200
    assert "A list named “VIP” already exists" in response.content.decode()
    response = act(staff, "add_to_list", [c.pk for c in contacts], new_list_name="VIP")
    assert "A list named “VIP” already exists" in response.content.decode()
    assert ListMembership.objects.count() == 0


def test_choosing_both_or_neither_list_is_refused(staff, make_list):
    contacts = make_contacts(2)
    vip = make_list("VIP", [])
    for answer in ({"contact_list": vip.pk, "new_list_name": "New"}, {"contact_list": "", "new_list_name": ""}):
        response = act(staff, "add_to_list", [c.pk for c in contacts], **answer)
        assert "Choose an existing list or name a new one" in response.content.decode()
    assert ListMembership.objects.count() == 0


def test_the_list_filter_and_the_subscription_filter(staff, make_list):
    contacts = make_contacts(6)
    vip = make_list("VIP", contacts[:3])
    Contact.objects.filter(pk=contacts[0].pk).update(opted_out_at="2026-01-01T00:00Z")
    shown = staff.get(f"{CHANGELIST}?list={vip.pk}").context["cl"].result_list
    assert set(shown) == set(contacts[:3])
    shown = staff.get(f"{CHANGELIST}?list={vip.pk}&subscription=opted_out").context["cl"].result_list
    assert list(shown) == [contacts[0]]
    shown = staff.get(f"{CHANGELIST}?subscription=subscribed").context["cl"].result_list
    assert contacts[0] not in shown and len(shown) == 5
    assert staff.get(f"{CHANGELIST}?list=abc").status_code == 302  # Django's "?e=1": bad parameter


def test_the_list_filter_offers_only_the_newest_lists(staff):
    ContactList.objects.bulk_create(ContactList(name=f"List {n:03d}") for n in range(50))
    oldest = ContactList.objects.order_by("id").first()
    page = staff.get(CHANGELIST).content.decode()
    assert "List 049" in page and "List 000" not in page
    assert "Other lists…" in page
    assert "List 000" in staff.get(f"{CHANGELIST}?list={oldest.pk}").content.decode()  # the chosen one shows


def test_search_by_phone_prefix_national_number_and_name(staff):
    ann = Contact.objects.create(phone="+447911123456", name="Ann Smith")
    bob = Contact.objects.create(phone="+14155552671", name="Bob Jones")

    def found(term: str) -> set[Contact]:
        return set(staff.get(CHANGELIST, {"q": term}).context["cl"].result_list)

    assert found("+44 7911") == {ann}
    assert found("1415") == {bob}
    assert found("smith") == {ann}
    assert found("jon") == {bob}


def test_list_page_counts_members_without_a_query_per_list(staff, make_list, django_assert_max_num_queries):
    contacts = make_contacts(5)
    for n in range(20):
        make_list(f"List {n}", contacts[: n % 5])
    with django_assert_max_num_queries(8):
        page = staff.get("/admin/contacts/contactlist/").content.decode()
    assert "View its contacts" in page
    big = ContactList.objects.get(name="List 4")
    assert f'href="/admin/contacts/contact/?list={big.pk}"' in page


def test_a_contacts_lists_are_managed_on_its_page(staff, make_list):
    ann = make_contacts(1)[0]
    vip = make_list("VIP", [])
    url = f"{CHANGELIST}{ann.pk}/change/"
    form = {
        "phone": ann.phone,
        "name": ann.name,
        "extra_fields": "{}",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "0",
        "memberships-0-contact_list": str(vip.pk),
        "opt_ins-TOTAL_FORMS": "0",
        "opt_ins-INITIAL_FORMS": "0",
    }
    assert staff.post(url, form).status_code == 302
    assert list(ann.lists.all()) == [vip]


def test_a_very_big_selection_is_added_by_a_worker(staff, worker, monkeypatch, django_capture_on_commit_callbacks):
    """Above BACKGROUND_FROM the same INSERT ... SELECT runs in RQ, so no web request times out."""
    monkeypatch.setattr(jobs, "BACKGROUND_FROM", 20)
    make_contacts(25, prefix="+4479111", name="Ann")
    make_contacts(5, prefix="+4479222", name="Bob")
    visible = list(Contact.objects.filter(name__startswith="Ann").values_list("pk", flat=True)[:3])
    with django_capture_on_commit_callbacks(execute=True):
        response = act(staff, "add_to_list", visible, select_across=True, query="?q=ann", new_list_name="Anns")
    anns = ContactList.objects.get(name="Anns")
    assert anns.contacts.count() == 0  # not yet: queued
    assert "Adding 25 contacts to new list" in messages_of(staff.get(response.url))[0]
    worker()
    assert anns.contacts.count() == 25
    assert not anns.contacts.filter(name__startswith="Bob").exists()


def test_member_counts_follow_every_way_memberships_change(make_list):
    """The database keeps ContactList.member_count: bulk add, re-add, remove, moves and cascades."""
    contacts = make_contacts(10)
    vip, other = make_list("VIP", contacts[:4]), make_list("Other", [])

    def counts() -> tuple[int, int]:
        return tuple(
            ContactList.objects.filter(pk__in=[vip.pk, other.pk])
            .order_by("name")
            .values_list("member_count", flat=True)
        )[::-1]

    assert counts() == (4, 0)
    vip.add_contacts(Contact.objects.all())  # 6 new, 4 skipped by ON CONFLICT
    assert counts() == (10, 0)
    vip.remove_contacts(Contact.objects.filter(pk__in=[c.pk for c in contacts[:3]]))
    assert counts() == (7, 0)
    ListMembership.objects.filter(contact=contacts[5]).update(contact_list=other)
    assert counts() == (6, 1)
    contacts[6].delete()  # the contact's memberships go with it
    other.contacts.add(contacts[0])
    assert counts() == (5, 2)


def test_the_changelist_offers_our_actions_and_export_not_the_old_one(staff):
    make_contacts(1)
    page = staff.get(CHANGELIST)
    actions = [choice for choice, _ in page.context["action_form"].fields["action"].choices if choice]
    assert actions == ["delete_selected", "add_to_list", "remove_from_list", "create_list", "opt_out", "opt_in"]
    html = page.content.decode()
    assert "Export these contacts (CSV)" in html
    assert '/admin/contacts/contact/export/"' not in html  # django-import-export's JSON-cell export is gone
    assert staff.get("/admin/contacts/contact/export/").status_code == 404


def test_a_big_count_is_an_estimate_said_as_such_and_late_pages_still_work(staff):
    if connection.vendor != "postgresql":
        pytest.skip("the planner's estimate is PostgreSQL's; elsewhere the count is exact")
    make_contacts(10_050)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
    page = staff.get(CHANGELIST)
    assert page.context["cl"].paginator.is_estimate
    assert "about 10" in page.content.decode()
    late = staff.get(f"{CHANGELIST}?p=101")  # past the deferred-join offset: ids first, then rows
    assert [c.phone for c in late.context["cl"].result_list] == [c.phone for c in Contact.objects.all()[10_000:10_050]]
