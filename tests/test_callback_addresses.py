"""Gupshup and sendbulk callbacks may be limited to the addresses their provider calls from.

Neither provider signs its callbacks: the token in the URL is all that keeps others out, and the
audit found it in the access log, with which anyone could forge START, STOP or "Failed". A channel
that names its provider's addresses refuses every other caller with 403, and says so in the log
without the token. Behind proxies, the caller is the X-Forwarded-For entry TRUSTED_PROXY_COUNT
places from the end; with none, REMOTE_ADDR, and X-Forwarded-For is never read.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from contacts.models import Contact
from providers.models import Channel
from tests.conftest import run_worker

pytestmark = pytest.mark.django_db

GUPSHUP_ADDRESSES = "203.0.113.0/24, 2001:db8::7"
STOP = {
    "app": "shop",
    "timestamp": 1,
    "version": 2,
    "type": "message",
    "payload": {"id": "in-1", "source": "447911123999", "type": "text", "payload": {"text": "STOP"}},
}


@pytest.fixture
def gupshup() -> Channel:
    return Channel.objects.create(
        name="Gupshup", provider="gswa", sender="917834811114", callback_ips=GUPSHUP_ADDRESSES
    )


@pytest.fixture
def sendbulk() -> Channel:
    return Channel.objects.create(name="Sendbulk", provider="sendbulk", sender="DEMO", callback_ips="198.51.100.20")


def post_stop(client, channel: Channel, **meta):
    url = f"/webhooks/gswa/{channel.webhook_token}/events"
    response = client.post(url, json.dumps(STOP), content_type="application/json", **meta)
    run_worker()  # the receiving worker applies what the webhook took
    return response


def opted_out() -> bool:
    return Contact.objects.filter(phone="+447911123999", opted_out_at__isnull=False).exists()


def test_a_gupshup_callback_from_another_address_is_refused_and_logged_without_the_token(client, gupshup, caplog):
    response = post_stop(client, gupshup, REMOTE_ADDR="192.0.2.66")
    assert response.status_code == 403
    assert response.json() == {
        "error": "callback_ips: 192.0.2.66 is not among this channel's callback addresses.",
        "field": "callback_ips",
    }
    assert not opted_out()  # the forged STOP changed nothing
    refusals = [r.getMessage() for r in caplog.records if "refused a Gupshup callback" in r.getMessage()]
    assert refusals == [
        f"refused a Gupshup callback for channel {gupshup.pk} from 192.0.2.66: not in its callback addresses"
    ]
    assert gupshup.webhook_token not in caplog.text


@pytest.mark.parametrize("address", ["203.0.113.9", "2001:db8::7"])
def test_a_gupshup_callback_from_a_listed_address_is_read(client, gupshup, address):
    response = post_stop(client, gupshup, REMOTE_ADDR=address)
    assert response.status_code == 200
    assert opted_out()


def test_without_a_list_any_address_may_call_as_before(client, gupshup):
    Channel.objects.filter(pk=gupshup.pk).update(callback_ips="")
    assert post_stop(client, gupshup, REMOTE_ADDR="192.0.2.66").status_code == 200


def test_an_unknown_token_is_still_a_404_whatever_the_address(client, gupshup):
    response = client.post("/webhooks/gswa/not-a-token/events", "{}", content_type="application/json")
    assert response.status_code == 404


def test_a_sendbulk_report_from_another_address_is_refused(client, sendbulk, caplog):
    url = f"/webhooks/sendbulk/{sendbulk.webhook_token}/dlr"
    body = json.dumps({"description": "DeliveredToTerminal", "messageid": "77"})
    refused = client.post(url, body, content_type="application/json", REMOTE_ADDR="192.0.2.66")
    assert refused.status_code == 403
    assert "callback_ips: 192.0.2.66" in refused.json()["error"]
    assert sendbulk.webhook_token not in caplog.text
    allowed = client.post(url, body, content_type="application/json", REMOTE_ADDR="198.51.100.20")
    assert allowed.status_code == 200


# --- the caller's address behind proxies ----------------------------------------------------------


def test_with_no_trusted_proxy_x_forwarded_for_is_never_read(client, gupshup, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    response = post_stop(client, gupshup, REMOTE_ADDR="192.0.2.66", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 403


def test_behind_one_proxy_the_caller_is_the_address_the_proxy_saw(client, gupshup, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    behind = {"REMOTE_ADDR": "10.0.0.2"}  # our proxy
    assert post_stop(client, gupshup, HTTP_X_FORWARDED_FOR="203.0.113.9", **behind).status_code == 200
    # A caller who writes an allowed address first does not pass: the proxy appended the real one.
    forged = post_stop(client, gupshup, HTTP_X_FORWARDED_FOR="203.0.113.9, 192.0.2.66", **behind)
    assert forged.status_code == 403
    assert "192.0.2.66" in forged.json()["error"]


def test_behind_two_proxies_the_caller_is_the_second_entry_from_the_end(client, gupshup, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    meta = {"REMOTE_ADDR": "10.0.0.3", "HTTP_X_FORWARDED_FOR": "192.0.2.1, 203.0.113.9, 10.0.0.2"}
    assert post_stop(client, gupshup, **meta).status_code == 200


def test_a_request_that_skipped_the_proxies_is_refused_when_a_list_is_set(client, gupshup, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    response = post_stop(client, gupshup, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 403
    assert "an unknown address" in response.json()["error"]


# --- the admin ----------------------------------------------------------------------------------


def test_the_channel_page_refuses_an_entry_that_is_not_an_address_naming_it(staff, gupshup):
    data = {
        "name": gupshup.name,
        "provider": gupshup.provider,
        "sender": gupshup.sender,
        "rate_limit": gupshup.rate_limit,
        "batch_size": 0,
        "api_base_url": "",
        "callback_ips": "203.0.113.0/24\ngupshup.io",
        "options": "{}",
        "is_active": "on",
        "paused_reason": "",
        "new_credentials": "",
    }
    response = staff.post(reverse("admin:providers_channel_change", args=[gupshup.pk]), data)
    errors = response.context["adminform"].form.errors["callback_ips"]
    assert errors == [
        "callback_ips: 'gupshup.io' is not an IP address or network "
        "(e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/32)."
    ]
    data["callback_ips"] = "203.0.113.0/24\n34.202.224.208"
    assert staff.post(reverse("admin:providers_channel_change", args=[gupshup.pk]), data).status_code == 302
    gupshup.refresh_from_db()
    assert gupshup.accepts_callbacks_from("34.202.224.208")
