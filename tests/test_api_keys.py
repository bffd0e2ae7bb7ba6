"""API keys: created in the admin or by command, shown once, stored hashed, revocable, last use shown."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from campaigns.models import ApiKey

pytestmark = pytest.mark.django_db


def works(raw_key: str) -> int:
    """The status GET /message/1 answers with this key: 404 (no such message) means the key works."""
    return Client().get("/message/1", headers={"apikey": raw_key}).status_code


def test_createapikey_prints_only_a_working_key(django_user_model):
    django_user_model.objects.create_user("shop")
    out = io.StringIO()
    call_command("createapikey", "shop", "--name", "webshop", stdout=out)

    raw = out.getvalue().strip()
    assert raw.startswith("mk_") and "\n" not in raw
    key = ApiKey.objects.get()
    assert (key.name, key.prefix, key.user.username) == ("webshop", raw[:10], "shop")
    assert raw not in key.key_hash  # only the hash is kept
    assert works(raw) == 404


def test_createapikey_refuses_an_unknown_user():
    with pytest.raises(CommandError, match=r"username: 'nobody' is not a user\."):
        call_command("createapikey", "nobody")


def test_the_admin_shows_a_new_key_once(admin_client):
    clerk = get_user_model().objects.create_user("clerk")
    response = admin_client.post("/admin/campaigns/apikey/add/", {"user": clerk.pk, "name": "crm"}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"] if "The new API key is" in str(m)]
    assert len(shown) == 1
    raw = shown[0].split("The new API key is ")[1].split(" ")[0]
    key = ApiKey.objects.get()
    assert key.user == clerk
    assert works(raw) == 404

    page = admin_client.get(f"/admin/campaigns/apikey/{key.pk}/change/").content.decode()
    assert raw not in page
    assert key.key_hash not in page
    assert key.prefix in page


def test_the_revoke_action_stops_a_key(admin_client):
    key, raw = ApiKey.issue(get_user_model().objects.create_user("clerk"))
    assert works(raw) == 404
    admin_client.post("/admin/campaigns/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]}, follow=True)
    key.refresh_from_db()
    assert key.revoked_at is not None
    response = Client().get("/message/1", headers={"apikey": raw})
    assert response.status_code == 401
    assert json.loads(response.content)["errors"][0]["msg"] == f"apikey: the key {key.prefix}… was revoked."


def test_a_key_of_a_deactivated_user_stops_working():
    user = get_user_model().objects.create_user("leaver")
    raw = ApiKey.issue(user)[1]
    user.is_active = False
    user.save()
    assert works(raw) == 401


def test_the_last_use_is_shown_in_the_key_list(admin_client):
    key, raw = ApiKey.issue(get_user_model().objects.create_user("clerk"))
    works(raw)
    key.refresh_from_db()
    assert key.last_used_at is not None
    page = admin_client.get("/admin/campaigns/apikey/").content.decode()
    assert "Last used at" in page
