"""What one API key may do: its channels, contact saving and lists, and whom user_id may name."""

# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from campaigns.models import ApiKey, Campaign, OutboundMessage
from contacts.models import Contact
from providers.models import Channel

# The API client fixtures are shared with test_api_message.py; pytest finds them by name here.
from tests.test_api_message import api_key, api_user, body, call, errors, key_row  # noqa: F401

pytestmark = pytest.mark.django_db
Saving = ApiKey.ContactSaving


def bulk(channel: Channel, **fields) -> dict:
    return {
        "provider": channel.provider,
        "channel_key": channel.channel_key,
        "recipients": [{"to": "+14155550123"}],
    } | fields


def scoped(key: ApiKey, **fields) -> ApiKey:
    ApiKey.objects.filter(pk=key.pk).update(**fields)
    key.refresh_from_db()
    return key


# --- Channels ---------------------------------------------------------------------------------


def test_a_key_limited_to_channels_sends_on_them(call, key_row, channel):
    scoped(key_row, every_channel=False).channels.add(channel)
    status, answer, _ = call("POST", "/message", body(channel, text="Hi"))
    assert status == 200, answer


@pytest.mark.parametrize(("path", "make_body"), [("/message", lambda c: body(c, text="Hi")), ("/messages/bulk", bulk)])
def test_a_key_limited_to_channels_is_refused_any_other_naming_it(call, key_row, channel, path, make_body):
    shop = Channel.objects.create(name="Shop SMS", provider="sandbox")
    scoped(key_row, every_channel=False).channels.add(shop)
    status, answer, _ = call("POST", path, make_body(channel) | {"text": "Hi"})
    assert status == 403
    assert errors(answer) == [
        f"channel_key: this key may not send on the channel {channel.name!r}; it may send on 'Shop SMS'."
    ]
    assert not OutboundMessage.objects.exists() and not Campaign.objects.exists()


def test_deleting_the_only_channel_of_a_limited_key_never_widens_it(call, key_row, channel):
    gone = Channel.objects.create(name="Gone", provider="sandbox")
    scoped(key_row, every_channel=False).channels.add(gone)
    gone.delete()
    status, answer, _ = call("POST", "/message", body(channel, text="Hi"))
    assert status == 403
    assert errors(answer) == [
        f"channel_key: this key may not send on the channel {channel.name!r}; it may send on no channel."
    ]


def test_a_key_limited_to_channels_reads_only_their_messages(call, key_row, channel):
    """GET /message/<id> finds a message on the key's channels; any other is a 404, as if it did not exist."""
    shop = Channel.objects.create(name="Shop SMS", provider="sandbox")
    mine = sent_on(call, shop)
    other = sent_on(call, channel)
    scoped(key_row, every_channel=False).channels.add(shop)
    status, answer, _ = call("GET", f"/message/{mine}")
    assert status == 200 and answer["data"]["message_id"] == mine
    status, answer, _ = call("GET", f"/message/{other}")
    assert status == 404
    assert errors(answer) == [f"message_id: {other!r} is not a message this key can see."]
    key_row.channels.clear()
    assert call("GET", f"/message/{mine}")[0] == 404


def sent_on(call, channel: Channel) -> str:
    status, answer, _ = call("POST", "/message", body(channel, text="Hi"))
    assert status == 200, answer
    return answer["data"]["message_id"]


def test_a_key_on_every_channel_sends_on_every_channel(call, channel):
    other = Channel.objects.create(name="Other", provider="sandbox")
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200
    assert call("POST", "/message", body(other, text="Hi"))[0] == 200


# --- Contact saving ---------------------------------------------------------------------------


def test_a_new_key_may_not_save_contacts(call, key_row, channel):
    assert key_row.contact_saving == Saving.OFF  # the default for a new key
    status, answer, _ = call("POST", "/message", body(channel, text="Hi", contact_saving={"save": True}))
    assert status == 403
    assert errors(answer) == ["contact_saving.save: this key may not save contacts (its contact saving is off)."]
    assert not Contact.objects.exists() and not OutboundMessage.objects.exists()


def test_a_key_for_new_contacts_only_saves_a_new_one(call, key_row, channel):
    scoped(key_row, contact_saving=Saving.NEW_ONLY)
    saving = {"save": True, "extra_fields": {"city": "York"}}
    assert call("POST", "/message", body(channel, name="Ann", text="Hi", contact_saving=saving))[0] == 200
    contact = Contact.objects.get()
    assert (contact.phone, contact.name, contact.extra_fields) == ("+14155550123", "Ann", {"city": "York"})


def test_a_key_for_new_contacts_only_leaves_an_existing_contact_as_it_is(call, key_row, channel, make_contact):
    existing = make_contact(phone="+14155550123", name="Ann Example", city="Leeds")
    scoped(key_row, contact_saving=Saving.NEW_ONLY)
    saving = {"save": True, "extra_fields": {"city": "York", "tier": "gold"}}
    status, answer, _ = call(
        "POST", "/message", body(channel, name="Mallory", text="Hi {{name}}", contact_saving=saving)
    )
    assert status == 200, answer
    existing.refresh_from_db()
    assert (existing.name, existing.extra_fields) == ("Ann Example", {"city": "Leeds"})
    message = OutboundMessage.objects.get()
    assert message.contact == existing  # still linked: the message is to that contact


def test_a_key_allowed_to_update_contacts_renames_and_merges(call, key_row, channel, make_contact):
    existing = make_contact(phone="+14155550123", name="Ann Example", city="Leeds")
    scoped(key_row, contact_saving=Saving.UPDATE)
    saving = {"save": True, "extra_fields": {"tier": "gold"}}
    assert call("POST", "/message", body(channel, name="Ann Lee", text="Hi", contact_saving=saving))[0] == 200
    existing.refresh_from_db()
    assert (existing.name, existing.extra_fields) == ("Ann Lee", {"city": "Leeds", "tier": "gold"})


def test_a_list_the_key_may_not_add_to_is_refused_naming_it(call, key_row, channel, make_contact, make_list):
    existing = make_contact(phone="+14155550123")
    scoped(key_row, contact_saving=Saving.UPDATE)
    key_row.contact_lists.add(make_list("Newsletter", []))
    vips = make_list("VIP launch", [])
    saving = {"save": True, "list_id": vips.pk}
    status, answer, _ = call("POST", "/message", body(channel, text="Hi", contact_saving=saving))
    assert status == 403
    assert errors(answer) == [
        f"contact_saving.list_id: this key may not add contacts to the list 'VIP launch' (list_id {vips.pk}); "
        "it may add to 'Newsletter'."
    ]
    assert not vips.contacts.exists() and not existing.lists.exists()
    assert not OutboundMessage.objects.exists()


def test_a_key_with_no_list_chosen_may_add_to_none(call, key_row, channel, make_list):
    scoped(key_row, contact_saving=Saving.NEW_ONLY)
    customers = make_list("Customers", [])
    status, answer, _ = call(
        "POST", "/message", body(channel, text="Hi", contact_saving={"save": True, "list_id": customers.pk})
    )
    assert status == 403
    assert errors(answer)[0].endswith("it may add to no list.")
    assert not Contact.objects.exists()


def test_a_key_adds_to_its_own_lists(call, key_row, channel, make_list):
    scoped(key_row, contact_saving=Saving.NEW_ONLY)
    newsletter = make_list("Newsletter", [])
    key_row.contact_lists.add(newsletter)
    assert (
        call("POST", "/message", body(channel, text="Hi", contact_saving={"save": True, "list_id": newsletter.pk}))[0]
        == 200
    )
    assert [c.phone for c in newsletter.contacts.all()] == ["+14155550123"]


# --- user_id ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/message", "/messages/bulk"])
def test_a_key_may_name_its_owner(call, api_user, channel, path):
    make = body if path == "/message" else bulk
    assert call("POST", path, make(channel, text="Hi", user_id=api_user.pk))[0] == 200
    sent_by = (OutboundMessage if path == "/message" else Campaign).objects.get().created_by
    assert sent_by == api_user


@pytest.mark.parametrize("path", ["/message", "/messages/bulk"])
def test_a_key_may_not_name_another_member_and_cannot_tell_who_exists(call, api_user, channel, path):
    make = body if path == "/message" else bulk
    users = get_user_model().objects
    admin = users.create_superuser("boss", "boss@example.com", "pw-for-tests-only")
    leaver = users.create_user("leaver", is_staff=True, is_active=False)
    answers = {}
    for who, user_id in {"admin": admin.pk, "leaver": leaver.pk, "nobody": 424242}.items():
        status, answer, _ = call("POST", path, make(channel, text="Hi", user_id=user_id))
        answers[who] = (status, errors(answer)[0].replace(str(user_id), "N"))
    assert set(answers.values()) == {
        (403, f"user_id: N is not allowed; this key may name only its owner (user_id {api_user.pk}).")
    }
    assert not OutboundMessage.objects.exists() and not Campaign.objects.exists()


def test_an_administrators_key_may_name_any_active_team_member(call, api_user, channel):
    scoped_admin(api_user)
    member = get_user_model().objects.create_user("ann", first_name="Ann", is_staff=True)
    assert call("POST", "/message", body(channel, text="Hi", user_id=member.pk))[0] == 200
    assert OutboundMessage.objects.get().sender_label == "Ann"


def test_unknown_and_inactive_user_ids_answer_alike_for_an_administrators_key(call, api_user, channel):
    scoped_admin(api_user)
    users = get_user_model().objects
    leaver = users.create_user("leaver", is_staff=True, is_active=False)
    customer = users.create_user("customer")  # active, but not a team member
    leaver_id, customer_id = leaver.pk, customer.pk
    missing_id = users.create_user("gone", is_staff=True).pk
    users.filter(pk=missing_id).delete()

    answers = set()
    for user_id in (leaver_id, customer_id, missing_id, 424242):
        status, answer, _ = call("POST", "/message", body(channel, text="Hi", user_id=user_id))
        answers.add((status, answer["errors"][0]["msg"].replace(str(user_id), "N")))
    assert answers == {(404, "user_id: N is not an active team member.")}


def scoped_admin(user) -> None:
    user.is_superuser = True
    user.save()


# --- The document says it -----------------------------------------------------------------------


def test_the_openapi_document_describes_the_scope(call):
    from campaigns.api.openapi import document

    doc = document()
    scheme = doc["components"]["securitySchemes"]["apikey"]["description"]
    for words in ("channels it may send on", "contact_saving", "user_id", "expires", "daily recipient quota"):
        assert words in scheme
    for path in ("/message", "/messages/bulk"):
        responses = doc["paths"][path]["post"]["responses"]
        assert "channel" in responses["403"]["description"]
        assert "daily recipient quota" in responses["429"]["description"]
    message = doc["components"]["schemas"]["MessageRequestSandbox"]["properties"]
    assert "only its owner" in message["user_id"]["anyOf"][0]["description"] or "only its owner" in str(
        message["user_id"]
    )
    assert "new contacts only" in doc["components"]["schemas"]["ContactSaving"]["description"]


def test_the_docs_page_tells_what_a_key_may_do(client):
    page = client.get("/api/docs").content.decode()
    assert "Each key has a scope, shown on its admin page: the channels it may send on" in page
    assert "403" in page and "daily recipient quota" in page


def test_a_key_on_every_channel_costs_no_query_for_its_channels(call, key_row, channel):
    """Most keys are on every channel: the key's own row says so."""
    from django.db import connection

    seen: list[str] = []

    def count(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        assert call("POST", "/message", body(channel, text="Hi"))[0] == 200
    channel_table = ApiKey.channels.through._meta.db_table
    assert not any(channel_table in sql for sql in seen)

    scoped(key_row, every_channel=False).channels.add(channel)
    seen.clear()
    with connection.execute_wrapper(count):
        assert call("POST", "/message", body(channel, text="Hi"))[0] == 200
    assert sum(channel_table in sql for sql in seen) == 1  # a limited key reads its channels once
