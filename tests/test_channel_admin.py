"""Channels in the admin: credentials are write-only, and the check and test-message actions work."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.models import OutboundMessage
from providers.models import Channel
from providers.registry import provider_classes

SECRET = "tok-7c1e9b0f-never-show-me"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def scripted(settings, monkeypatch):
    """A provider with a credential field, offered as a choice for the channel's provider."""
    settings.MESSAGING_PROVIDERS = [*settings.MESSAGING_PROVIDERS, "tests.scripted_provider.ScriptedProvider"]
    provider_classes.cache_clear()
    field = Channel._meta.get_field("provider")
    monkeypatch.setattr(field, "choices", [*field.choices, ("scripted", "Scripted (tests only)")])
    yield
    provider_classes.cache_clear()


@pytest.fixture
def keyed_channel() -> Channel:
    return Channel.objects.create(
        name="Keyed", provider="scripted", sender="+15005550006", credentials={"token": SECRET, "region": "eu-1"}
    )


def change_url(channel: Channel) -> str:
    return reverse("admin:providers_channel_change", args=[channel.pk])


def change_form(channel: Channel, **changes) -> dict:
    data = {
        "name": channel.name,
        "provider": channel.provider,
        "sender": channel.sender,
        "rate_limit": channel.rate_limit,
        "batch_size": channel.batch_size,
        "api_base_url": channel.api_base_url,
        "options": "{}",
        "is_active": "on",
        "paused_reason": "",
        "new_credentials": "",
        "credential__scripted__token": "",
    }
    return {**data, **changes}


def stored_credentials(channel: Channel) -> dict:
    channel.refresh_from_db()
    return channel.credentials


def test_stored_credentials_appear_on_no_admin_page(staff, keyed_channel):
    staff.post(change_url(keyed_channel), change_form(keyed_channel, name="Keyed renamed"))
    pages = [
        reverse("admin:providers_channel_changelist"),
        change_url(keyed_channel),
        reverse("admin:providers_channel_history", args=[keyed_channel.pk]),
        reverse("admin:providers_channel_delete", args=[keyed_channel.pk]),
        reverse("admin:providers_channel_add"),
        reverse("admin:index"),
    ]
    for page in pages:
        response = staff.get(page)
        assert response.status_code == 200, page
        assert SECRET not in response.content.decode(), page
    change_page = staff.get(change_url(keyed_channel)).content.decode()
    assert "region, token" in change_page  # which keys are stored is shown, never their values


def test_a_blank_credential_keeps_what_is_stored(staff, keyed_channel):
    response = staff.post(change_url(keyed_channel), change_form(keyed_channel, sender="+15005550007"))
    assert response.status_code == 302
    assert stored_credentials(keyed_channel) == {"token": SECRET, "region": "eu-1"}


def test_a_credential_typed_in_its_field_replaces_only_that_key(staff, keyed_channel):
    staff.post(change_url(keyed_channel), change_form(keyed_channel, credential__scripted__token="new-token"))
    assert stored_credentials(keyed_channel) == {"token": "new-token", "region": "eu-1"}


def test_credentials_given_as_json_replace_all_of_them(staff, keyed_channel):
    staff.post(change_url(keyed_channel), change_form(keyed_channel, new_credentials='{"token": "from-json"}'))
    assert stored_credentials(keyed_channel) == {"token": "from-json"}


def test_the_change_history_names_the_credentials_but_not_their_values(staff, keyed_channel):
    staff.post(change_url(keyed_channel), change_form(keyed_channel, credential__scripted__token="typed-secret"))
    history = staff.get(reverse("admin:providers_channel_history", args=[keyed_channel.pk])).content.decode()
    assert "Token" in history
    assert "typed-secret" not in history


def test_invalid_json_is_refused_clearly_and_nothing_typed_is_shown_back(staff, keyed_channel):
    response = staff.post(
        change_url(keyed_channel),
        change_form(keyed_channel, new_credentials='{"token": "half-typed', credential__scripted__token="typed-secret"),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Credentials: not valid JSON" in page
    assert "type them again" in page
    assert "half-typed" not in page
    assert "typed-secret" not in page
    assert stored_credentials(keyed_channel) == {"token": SECRET, "region": "eu-1"}


def test_credentials_must_be_a_json_object_of_text(staff, keyed_channel):
    response = staff.post(change_url(keyed_channel), change_form(keyed_channel, new_credentials='["token"]'))
    assert "expected a JSON object of text values" in response.content.decode()


def test_a_new_channel_takes_its_credentials_from_its_providers_fields(staff):
    data = change_form(Channel(name="Fresh", provider="scripted", rate_limit=10), credential__scripted__token="t1")
    response = staff.post(reverse("admin:providers_channel_add"), data)
    assert response.status_code == 302
    assert Channel.objects.get(name="Fresh").credentials == {"token": "t1"}


def test_people_who_are_not_staff_are_sent_to_the_login_page(client, keyed_channel):
    pages = [reverse("admin:providers_channel_changelist"), change_url(keyed_channel)]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    user = get_user_model().objects.create_user("visitor", password="a-long-test-password")
    client.force_login(user)
    response = client.get(change_url(keyed_channel))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def run_action(client, action: str, channels: list[Channel], **extra):
    data = {"action": action, "_selected_action": [c.pk for c in channels], **extra}
    return client.post(reverse("admin:providers_channel_changelist"), data, follow=True)


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_checking_a_sandbox_channel_says_it_needs_no_credentials(staff, channel):
    response = run_action(staff, "check_credentials", [channel])
    assert shown_messages(response) == [
        "Sandbox: The sandbox needs no credentials: it accepts every message, sends nothing and reports it delivered."
    ]


def test_checking_a_channel_with_missing_credentials_names_them(staff):
    empty = Channel.objects.create(name="Empty", provider="scripted")
    response = run_action(staff, "check_credentials", [empty])
    assert shown_messages(response) == ["Empty: Missing credentials: token."]


def test_send_test_message_asks_for_a_number_and_text_first(staff, channel):
    response = run_action(staff, "send_test_message", [channel])
    page = response.content.decode()
    assert response.status_code == 200
    assert "Send a test message on Sandbox" in page
    assert 'name="to"' in page
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_send_test_message_queues_one_message_that_the_worker_sends(staff, channel, worker):
    response = run_action(
        staff, "send_test_message", [channel], send="1", to="+44 7911 123456", text="Testing the channel"
    )
    message = OutboundMessage.objects.get()
    assert (message.channel, message.to, message.body) == (channel, "+447911123456", "Testing the channel")
    assert message.sender_label == "maria"
    link = reverse("admin:campaigns_outboundmessage_change", args=[message.pk])
    assert f'<a href="{link}">#{message.pk}</a>' in response.content.decode()

    worker()
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.SENT


def test_send_test_message_refuses_a_bad_number_naming_it(staff, channel):
    response = run_action(staff, "send_test_message", [channel], send="1", to="12345", text="Hello")
    assert "To: &#x27;12345&#x27; is not a valid phone number." in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_send_test_message_needs_exactly_one_channel(staff, channel, keyed_channel):
    response = run_action(staff, "send_test_message", [channel, keyed_channel])
    assert shown_messages(response) == ["Choose exactly one channel to send a test message on."]


def test_a_price_needs_its_currency_and_the_campaign_page_shows_both(staff, keyed_channel):
    response = staff.post(change_url(keyed_channel), change_form(keyed_channel, price_per_segment="0.0079"))
    assert "Currency: give the price&#x27;s currency" in response.content.decode()
    response = staff.post(change_url(keyed_channel), change_form(keyed_channel, price_per_segment="1", currency="us$"))
    assert "Currency: US$ is not a three-letter currency code" in response.content.decode()
    response = staff.post(
        change_url(keyed_channel), change_form(keyed_channel, price_per_segment="0.0079", currency="usd")
    )
    assert response.status_code == 302
    keyed_channel.refresh_from_db()
    assert (str(keyed_channel.price_per_segment), keyed_channel.currency) == ("0.0079", "USD")
    response = staff.post(change_url(keyed_channel), change_form(keyed_channel, price_per_segment="-1", currency="USD"))
    assert "greater than or equal to 0" in response.content.decode()
