"""API keys: owned by staff, created in the admin or by command, shown once, stored hashed, revocable,
expiring, their scope and last use shown."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from campaigns.models import ApiKey
from providers.models import Channel

pytestmark = pytest.mark.django_db


def works(raw_key: str) -> int:
    """The status GET /message/1 answers with this key: 404 (no such message) means the key works."""
    return Client().get("/message/1", headers={"apikey": raw_key}).status_code


def staff(username: str = "clerk", **fields):
    return get_user_model().objects.create_user(username, is_staff=True, **fields)


def test_createapikey_prints_only_a_working_key(django_user_model):
    django_user_model.objects.create_user("shop", is_staff=True)
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
    clerk = staff()
    response = admin_client.post(
        "/admin/campaigns/apikey/add/",
        {"user": clerk.pk, "name": "crm", "every_channel": "on", "contact_saving": "off"},
        follow=True,
    )
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
    key, raw = ApiKey.issue(staff())
    assert works(raw) == 404
    admin_client.post(
        "/admin/campaigns/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk], "post": "yes"}, follow=True
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    response = Client().get("/message/1", headers={"apikey": raw})
    assert response.status_code == 401
    assert json.loads(response.content)["errors"][0]["msg"] == f"apikey: the key {key.prefix}… was revoked."


def test_a_key_of_a_deactivated_user_stops_working():
    user = staff("leaver")
    raw = ApiKey.issue(user)[1]
    user.is_active = False
    user.save()
    assert works(raw) == 401


def test_the_last_use_is_shown_in_the_key_list(admin_client):
    key, raw = ApiKey.issue(staff())
    works(raw)
    key.refresh_from_db()
    assert key.last_used_at is not None
    page = admin_client.get("/admin/campaigns/apikey/").content.decode()
    assert "Last used at" in page


# --- Only staff own keys, and keys may expire ------------------------------------------------


def test_createapikey_refuses_a_user_who_is_not_staff():
    get_user_model().objects.create_user("shopper")
    with pytest.raises(CommandError, match=r"username: 'shopper' is not staff; only staff users own API keys\."):
        call_command("createapikey", "shopper")
    assert not ApiKey.objects.exists()


def test_the_admin_form_refuses_an_owner_who_is_not_staff(admin_client):
    shopper = get_user_model().objects.create_user("shopper")
    response = admin_client.post("/admin/campaigns/apikey/add/", {"user": shopper.pk, "contact_saving": "off"})
    assert response.status_code == 200  # the form again, with the refusal
    assert "owner: that user is not active staff; only active staff users own API keys." in response.content.decode()
    assert not ApiKey.objects.exists()
    assert "shopper" not in admin_client.get("/admin/campaigns/apikey/add/").content.decode()  # not offered


def test_a_key_whose_owner_lost_staff_status_stops_working():
    user = staff("mover")
    key, raw = ApiKey.issue(user)
    user.is_staff = False
    user.save()
    response = Client().get("/message/1", headers={"apikey": raw})
    assert response.status_code == 401
    assert json.loads(response.content)["errors"][0]["msg"] == (
        f"apikey: the key {key.prefix}… belongs to a user who is no longer staff."
    )


def test_an_expired_key_answers_exactly_like_an_unknown_key():
    key, raw = ApiKey.issue(staff(), expires_at=timezone.now() + timedelta(minutes=5))
    assert works(raw) == 404
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    expired = Client().get("/message/1", headers={"apikey": raw})
    unknown = Client().get("/message/1", headers={"apikey": "mk_" + "x" * 43})
    assert expired.status_code == unknown.status_code == 401
    assert (
        expired.content == unknown.content == b'{"status":"error","errors":[{"msg":"apikey: this key is not known."}]}'
    )


def test_the_admin_page_shows_a_key_expired(admin_client):
    key, _ = ApiKey.issue(staff(), name="old shop", expires_at=timezone.now() - timedelta(days=1))
    page = admin_client.get(f"/admin/campaigns/apikey/{key.pk}/change/").content.decode()
    assert "<strong>Expired</strong> on" in page
    listing = admin_client.get("/admin/campaigns/apikey/").content.decode()
    assert "<strong>Expired</strong>" in listing


def test_the_admin_page_shows_what_a_key_may_do(admin_client, channel, make_list):
    owner = staff("shop")
    key, _ = ApiKey.issue(
        owner, every_channel=False, contact_saving=ApiKey.ContactSaving.NEW_ONLY, daily_recipient_quota=5000
    )
    key.channels.add(channel)
    key.contact_lists.add(make_list("Newsletter", []))
    page = admin_client.get(f"/admin/campaigns/apikey/{key.pk}/change/").content.decode()
    assert "Works" in page
    assert channel.name in page and "Newsletter" in page
    assert "Add new contacts only; existing contacts are left as they are" in page
    assert f"Only its owner, shop (user_id {owner.pk}); any other user_id is refused." in page
    assert "0 of 5,000 (this key&#x27;s quota); counts start again at midnight UTC" in page


def test_the_admin_page_of_an_administrators_key_says_it_may_name_anyone(admin_client, admin_user):
    key, _ = ApiKey.issue(admin_user)
    page = admin_client.get(f"/admin/campaigns/apikey/{key.pk}/change/").content.decode()
    assert "Any active team member (the owner is an administrator)." in page
    assert "of 100,000 (the API_DAILY_RECIPIENT_QUOTA setting&#x27;s quota)" in page


def test_a_scope_chosen_on_the_add_page_is_kept(admin_client, channel, make_list):
    newsletter = make_list("Newsletter", [])
    form = {
        "user": staff().pk,
        "name": "crm",
        "expires_at_0": "2031-01-02",
        "expires_at_1": "10:00:00",
        "channels": [channel.pk],
        "contact_saving": "update",
        "contact_lists": [newsletter.pk],
        "daily_recipient_quota": "250",
    }
    response = admin_client.post("/admin/campaigns/apikey/add/", form, follow=True)
    assert response.status_code == 200
    key = ApiKey.objects.get()
    assert (key.contact_saving, key.daily_recipient_quota, key.expires_at.year) == ("update", 250, 2031)
    assert list(key.channels.all()) == [channel]
    assert list(key.contact_lists.all()) == [newsletter]


def migrate_around(name_ends: str):
    """The executor, the migration of campaigns whose name ends so, and the one before it."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    target = next(key for key in graph.nodes if key[0] == "campaigns" and key[1].endswith(name_ends))
    before = next(parent.key for parent in graph.node_map[target].parents if parent.key[0] == "campaigns")
    return executor, target, before


def migrate_to(node) -> object:
    """Migrate to ``node``; the historical models' apps there."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([node])
    return MigrationExecutor(connection).loader.project_state([node]).apps


def migrate_to_latest() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_lets_existing_keys_add_new_contacts_but_change_none():
    """Keys made before scopes could save contacts: they keep adding new ones, in no list, and
    no longer rename or overwrite existing contacts."""
    _, scope, before = migrate_around("api_key_scope")
    try:
        old_apps = migrate_to(before)
        owner = old_apps.get_model("auth", "User").objects.create(username="shop", is_staff=True)
        old_apps.get_model("campaigns", "ApiKey").objects.create(user_id=owner.pk, prefix="mk_old", key_hash="h" * 64)

        key = migrate_to(scope).get_model("campaigns", "ApiKey").objects.get()
        assert key.contact_saving == "new"
        assert (key.channels.count(), key.contact_lists.count(), key.expires_at, key.daily_recipient_quota) == (
            0,
            0,
            None,
            None,
        )
    finally:
        migrate_to_latest()


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_keys_on_every_channel_and_limited_keys_limited():
    _, flag, before = migrate_around("api_key_every_channel")
    try:
        old_apps = migrate_to(before)
        owner = old_apps.get_model("auth", "User").objects.create(username="shop", is_staff=True)
        keys = old_apps.get_model("campaigns", "ApiKey").objects
        keys.create(user_id=owner.pk, name="open", prefix="mk_a", key_hash="a" * 64)
        limited = keys.create(user_id=owner.pk, name="limited", prefix="mk_b", key_hash="b" * 64)
        limited.channels.add(Channel.objects.create(name="Shop", provider="sandbox").pk)  # providers is not rolled back

        after = migrate_to(flag).get_model("campaigns", "ApiKey").objects
        assert dict(after.values_list("name", "every_channel")) == {"open": True, "limited": False}
    finally:
        migrate_to_latest()


@pytest.mark.parametrize(
    ("every_channel", "channels", "refusal"),
    [
        (True, True, "channels: untick &#x27;may send on every channel&#x27; to limit the key to these."),
        (False, False, "channels: choose at least one channel for a key limited to channels."),
    ],
)
def test_a_key_is_on_every_channel_or_limited_never_both(admin_client, channel, every_channel, channels, refusal):
    form = {"user": staff().pk, "contact_saving": "off"}
    form |= {"every_channel": "on"} if every_channel else {}
    form |= {"channels": [channel.pk]} if channels else {}
    response = admin_client.post("/admin/campaigns/apikey/add/", form)
    assert refusal in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_admin_page_says_why_a_key_stopped_working(admin_client):
    owner = staff("mover")
    key = ApiKey.issue(owner)[0]
    owner.is_staff = False
    owner.save()
    page = admin_client.get(f"/admin/campaigns/apikey/{key.pk}/change/").content.decode()
    assert "<strong>Not working</strong>: owner is not staff" in page
