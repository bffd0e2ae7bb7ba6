"""A changelist action that cannot be undone asks first, as the campaign page's Cancel button does;
a missing import is a 404; the job queues and metrics are linked only for those who may open them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from campaigns.models import ApiKey, BulkJob, Campaign, OutboundMessage
from contacts.models import Contact, ContactList

pytestmark = pytest.mark.django_db
Status = Campaign.Status


@pytest.fixture
def scheduled(channel) -> Campaign:
    campaign = Campaign.objects.create(
        name="Winter sale",
        channel=channel,
        text="Hi",
        status=Status.SCHEDULED,
        scheduled_at=timezone.now() + timedelta(days=2),
    )
    campaign.lists.add(ContactList.objects.create(name="Customers"))
    return campaign


def ask(client, url: str, action: str, ids: list[int], **extra):
    return client.post(url, {"action": action, "_selected_action": ids, "index": "0", **extra})


def test_the_changelist_cancel_asks_first_and_cancels_nothing_until_confirmed(admin_client, scheduled):
    url = reverse("admin:campaigns_campaign_changelist")
    page = ask(admin_client, url, "cancel", [scheduled.pk])
    html = page.content.decode()
    assert page.status_code == 200 and "Cancel these campaigns?" in html
    assert "Messages not sent yet will never go. This cannot be undone." in html
    assert "<li>Winter sale</li>" in html and 'value="Yes, cancel them"' in html
    assert Campaign.objects.get(pk=scheduled.pk).status == Status.SCHEDULED

    answer = admin_client.post(url, {"action": "cancel", "_selected_action": [scheduled.pk], "post": "yes"})
    assert answer.status_code == 302
    assert Campaign.objects.get(pk=scheduled.pk).status == Status.CANCELLED


def test_the_confirmation_keeps_the_filters_and_select_all(admin_client, scheduled, channel):
    other = Campaign.objects.create(name="Draft", channel=channel, text="Hi")
    url = reverse("admin:campaigns_campaign_changelist") + "?status__exact=scheduled"
    page = ask(admin_client, url, "cancel", [scheduled.pk], select_across="1").content.decode()
    assert 'name="select_across" value="1"' in page
    assert "?status__exact=scheduled" in page  # "No, take me back" returns to the same list
    admin_client.post(
        url, {"action": "cancel", "_selected_action": [scheduled.pk], "select_across": "1", "post": "yes"}
    )
    assert Campaign.objects.get(pk=scheduled.pk).status == Status.CANCELLED
    assert Campaign.objects.get(pk=other.pk).status == Status.DRAFT  # filtered out: untouched


def test_cancelling_messages_asks_first_and_counts_only_those_still_waiting(admin_client, channel):
    waiting = OutboundMessage.send_one(
        channel=channel, to="+447911123456", text="Later", send_at=timezone.now() + timedelta(hours=2)
    )
    url = reverse("admin:campaigns_outboundmessage_changelist")
    page = ask(admin_client, url, "cancel_messages", [waiting.pk]).content.decode()
    assert "Cancel these messages?" in page and "1 outbound message:" in page
    assert OutboundMessage.objects.get(pk=waiting.pk).status == OutboundMessage.Status.SCHEDULED


def test_cancelling_bulk_jobs_asks_first(admin_client, channel):
    job = Campaign.objects.create(
        name="API job",
        kind=Campaign.Kind.BULK_API,
        channel=channel,
        text="Hi",
        status=Status.SCHEDULED,
        scheduled_at=timezone.now() + timedelta(hours=2),
    )
    page = ask(admin_client, reverse("admin:campaigns_bulkjob_changelist"), "cancel_jobs", [job.pk]).content.decode()
    assert "Cancel these bulk jobs?" in page and "API job" in page
    assert BulkJob.objects.get(pk=job.pk).status == Status.SCHEDULED


def test_revoking_keys_and_opting_out_ask_first(admin_client, django_user_model):
    key, _ = ApiKey.issue(django_user_model.objects.create_user("clerk", is_staff=True))
    page = ask(admin_client, reverse("admin:campaigns_apikey_changelist"), "revoke_keys", [key.pk]).content.decode()
    assert "Revoke these API keys?" in page
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    contact = Contact.objects.create(phone="+447911123456", name="Ann")
    page = ask(admin_client, reverse("admin:contacts_contact_changelist"), "opt_out", [contact.pk]).content.decode()
    assert "Opt these contacts out?" in page
    assert not Contact.objects.get(pk=contact.pk).is_opted_out


def test_nothing_to_cancel_says_so_and_offers_no_button(admin_client, channel):
    done = Campaign.objects.create(name="Old", channel=channel, text="Hi", status=Status.COMPLETED)
    page = ask(admin_client, reverse("admin:campaigns_campaign_changelist"), "cancel", [done.pk]).content.decode()
    assert "nothing would happen" in page and 'value="Yes, cancel them" disabled' in page


# --- a missing import --------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["options", "preview", "confirm", "progress", "status", "rejected"])
def test_an_import_that_does_not_exist_is_a_404(admin_client, view):
    url = reverse(f"admin:contacts_contact_import_{view}", args=[999999])
    answer = admin_client.post(url) if view == "confirm" else admin_client.get(url)
    assert answer.status_code == 404


# --- refusals name the permission; links only for those who may follow them ----------------------------


def test_a_refused_button_names_the_permission_it_needs(client, django_user_model, scheduled):
    viewer = django_user_model.objects.create_user("vic", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(viewer)
    page = client.get(reverse("admin:campaigns_campaign_change", args=[scheduled.pk])).content.decode()
    assert "verb-form" not in page and "send-test" not in page  # no button they cannot press
    refused = client.post(reverse("admin:campaigns_campaign_act", args=[scheduled.pk, "cancel"]))
    assert refused.status_code == 403
    assert "Permission needed: “Can change campaign” (campaigns.change_campaign)" in refused.content.decode()
    assert Campaign.objects.get(pk=scheduled.pk).status == Status.SCHEDULED


def test_duplicating_needs_the_add_permission_too(client, django_user_model, scheduled):
    editor = django_user_model.objects.create_user("ed", is_staff=True)
    editor.user_permissions.add(*Permission.objects.filter(codename__in=["view_campaign", "change_campaign"]))
    client.force_login(editor)
    refused = client.post(reverse("admin:campaigns_campaign_act", args=[scheduled.pk, "duplicate"]))
    assert refused.status_code == 403 and "campaigns.add_campaign" in refused.content.decode()
    assert Campaign.objects.count() == 1


def test_the_dashboard_links_the_queues_only_for_administrators(client, django_user_model, marketing_staff):
    operator = django_user_model.objects.create_user("ops", is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="operate_queues"))
    client.force_login(operator)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'href="/admin/rq/">Queues and workers</a>' in page and "Unknown outcomes" not in page
    assert client.get("/admin/rq/").status_code == 200
    resolver = django_user_model.objects.create_user("res", is_staff=True)
    resolver.user_permissions.add(Permission.objects.get(codename="resolve_outcome"))
    client.force_login(resolver)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Unknown outcomes" in page and "/admin/rq/" not in page and "/admin/metrics/" not in page
    client.force_login(marketing_staff)
    assert "/admin/rq/" not in client.get(reverse("admin:index")).content.decode()
    assert client.get("/admin/django_rq/dashboard/").status_code == 404  # no second copy of the queues


def test_djangos_own_pages_name_the_permission_too(client, marketing_staff):
    client.force_login(marketing_staff)
    refused = client.get(reverse("admin:campaigns_apikey_changelist"))
    assert refused.status_code == 403
    page = refused.content.decode()
    assert "Permission needed: “Can view API key” (campaigns.view_apikey), to open API keys." in page
    assert "Messaging" in page and "mia" in page.lower()  # the admin's own header and user tools


def test_a_page_closed_to_everyone_claims_no_missing_permission(admin_client, scheduled):
    message = OutboundMessage.objects.create(
        channel=scheduled.channel, to="+447911123456", body="Hi", campaign=scheduled
    )
    refused = admin_client.post(reverse("admin:campaigns_outboundmessage_change", args=[message.pk]), {})
    assert refused.status_code == 403
    assert "Permission needed" not in refused.content.decode()
    assert "This page does not allow that" in refused.content.decode()


def test_list_actions_need_the_list_permissions_too(client, django_user_model):
    editor = django_user_model.objects.create_user("ed", is_staff=True)
    editor.user_permissions.add(*Permission.objects.filter(codename__in=["view_contact", "change_contact"]))
    client.force_login(editor)
    Contact.objects.create(phone="+447911123456", name="Ann")
    page = client.get(reverse("admin:contacts_contact_changelist"))
    offered = [name for name, _ in page.context["action_form"].fields["action"].choices if name]
    assert offered == ["opt_out", "opt_in"]  # no list is changed or created without the list permissions
    editor.user_permissions.add(Permission.objects.get(codename="change_contactlist"))
    client.force_login(editor)
    page = client.post(
        reverse("admin:contacts_contact_changelist"),
        {"action": "add_to_list", "_selected_action": [Contact.objects.get().pk], "index": "0"},
    )
    assert 'name="contact_list"' in page.content.decode() and 'name="new_list_name"' not in page.content.decode()
