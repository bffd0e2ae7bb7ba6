"""The Marketing group: everything a campaign needs, nothing of credentials, API keys or users."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from campaigns.models import ApiKey, Campaign, MessageTemplate, OutboundMessage
from providers.models import Channel

pytestmark = pytest.mark.django_db
SECRET = "tok-very-secret-123"


@pytest.fixture
def marketing(client, marketing_staff):
    client.force_login(marketing_staff)
    return client


@pytest.fixture
def twilio_channel(db) -> Channel:
    return Channel.objects.create(
        name="Twilio SMS",
        provider="twlo",
        sender="+15005550006",
        credentials={"account_sid": "AC" + "1" * 32, "auth_token": SECRET},
    )


def codenames(group: Group) -> set[str]:
    return set(group.permissions.values_list("codename", flat=True))


def test_the_group_is_created_by_a_migration_with_campaign_work_but_no_administration():
    perms = codenames(Group.objects.get(name="Marketing"))
    assert {"add_contact", "change_contactlist", "add_messagetemplate", "change_campaign", "view_bulkjob"} <= perms
    assert {"view_outboundmessage", "add_outboundmessage", "change_outboundmessage"} <= perms
    assert "delete_outboundmessage" not in perms and "delete_optinrecord" not in perms
    assert "view_optinrecord" in perms
    assert {p for p in perms if p.endswith("_channel")} == {"view_channel"}
    assert not {p for p in perms if p.endswith(("_apikey", "_user", "_group", "_permission"))}


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:index"),
        reverse("admin:campaigns_campaign_changelist"),
        reverse("admin:campaigns_campaign_add"),
        reverse("admin:campaigns_messagetemplate_changelist"),
        reverse("admin:campaigns_messagetemplate_add"),
        reverse("admin:contacts_contact_changelist"),
        reverse("admin:contacts_contact_add"),
        reverse("admin:contacts_contact_import"),
        reverse("admin:contacts_contactlist_add"),
        reverse("admin:campaigns_outboundmessage_changelist"),
        reverse("admin:campaigns_bulkjob_changelist"),
        reverse("admin:providers_channel_changelist"),
    ],
)
def test_marketing_can_open_the_pages_of_its_work(marketing, twilio_channel, url):
    assert marketing.get(url).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:campaigns_apikey_changelist"),
        reverse("admin:campaigns_apikey_add"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_group_changelist"),
        reverse("admin:providers_channel_add"),
    ],
)
def test_marketing_cannot_open_api_keys_users_or_add_channels(marketing, url):
    assert marketing.get(url).status_code == 403


def test_marketing_cannot_change_a_channel_nor_see_its_credentials(marketing, twilio_channel):
    url = reverse("admin:providers_channel_change", args=[twilio_channel.pk])
    page = marketing.get(url).content.decode()
    assert "Set, not shown: administrators manage a channel&#x27;s credentials." in page
    assert SECRET not in page and "account_sid" not in page and "auth_token" not in page.lower()
    assert 'name="credential__' not in page and 'name="new_credentials"' not in page
    assert 'name="_save"' not in page
    assert marketing.post(url, {"name": "Mine now", "provider": "twlo"}).status_code == 403
    twilio_channel.refresh_from_db()
    assert twilio_channel.name == "Twilio SMS"


def test_a_channel_without_credentials_says_so_to_marketing_rather_than_showing_a_blank(marketing):
    channel = Channel.objects.create(name="New", provider="twlo", sender="+15005550006")
    page = marketing.get(reverse("admin:providers_channel_change", args=[channel.pk])).content.decode()
    assert "None stored yet: an administrator has to add them" in page


def test_marketing_gets_no_channel_actions(marketing, twilio_channel):
    page = marketing.get(reverse("admin:providers_channel_changelist")).content.decode()
    assert "send_test_message" not in page and "resume_sending" not in page


def test_marketing_cannot_delete_a_message(marketing, twilio_channel):
    message = OutboundMessage.objects.create(channel=twilio_channel, to="+447911123456", body="Hi")
    url = reverse("admin:campaigns_outboundmessage_delete", args=[message.pk])
    assert marketing.post(url, {"post": "yes"}).status_code == 403
    assert OutboundMessage.objects.filter(pk=message.pk).exists()


def test_marketing_can_write_a_template_and_a_campaign(marketing, twilio_channel):
    response = marketing.post(
        reverse("admin:campaigns_messagetemplate_add"),
        {
            "name": "Hello",
            "body": "Hi {{ first_name }}",
            "media_url": "",
            "provider_kind": "",
            "provider_template_id": "",
            "variables-TOTAL_FORMS": "0",
            "variables-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert MessageTemplate.objects.filter(name="Hello").exists()
    assert marketing.get(reverse("admin:campaigns_campaign_add")).status_code == 200
    assert not ApiKey.objects.exists() and not Campaign.objects.exists()


def test_the_campaign_page_finds_lists_as_marketing_types_and_loads_none_up_front(
    marketing, twilio_channel, django_assert_max_num_queries
):
    from contacts.models import ContactList

    ContactList.objects.bulk_create(ContactList(name=f"Region {n:04d}") for n in range(3000))
    with django_assert_max_num_queries(30):
        page = marketing.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert "Region 0042" not in page
    # Lists, and the contact a WhatsApp template's preview is filled from, are asked for as staff type.
    searched = re.findall(r'<select name="([a-z_]+)"[^>]*data-ajax--url="/admin/autocomplete/"', page)
    assert sorted(searched) == ["exclude_lists", "lists", "preview_contact"]

    found = marketing.get(
        "/admin/autocomplete/",
        {"app_label": "campaigns", "model_name": "campaign", "field_name": "exclude_lists", "term": "gion 0042"},
    ).json()
    assert [item["text"] for item in found["results"]] == ["Region 0042"]
