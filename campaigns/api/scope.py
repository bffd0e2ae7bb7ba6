"""What one API key may do: its channels, who it may send as, and where it may save contacts.

Each check adds a 403 problem naming the field and the value (Problems puts it with the body's
other problems), so a caller learns everything wrong with a request at once.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from campaigns.api.validation import FORBIDDEN, NOT_FOUND, ContactSaving, Problems, id_field
from campaigns.models import ApiKey
from contacts.models import ContactList
from providers.models import Channel


def allowed_channel_ids(api_key: ApiKey) -> set[int]:
    """The ids of the channels a limited key may send on (read once a request)."""
    if not hasattr(api_key, "_channel_ids"):
        api_key._channel_ids = set(api_key.channels.values_list("pk", flat=True))
    return api_key._channel_ids


def channel_scope(api_key: ApiKey, channel: Channel | None, problems: Problems) -> None:
    if channel is None or api_key.every_channel or channel.pk in allowed_channel_ids(api_key):
        return
    allowed = Channel.objects.filter(pk__in=allowed_channel_ids(api_key)).values_list("name", flat=True)
    names = ", ".join(repr(name) for name in allowed) or "no channel"
    problems.add(
        f"channel_key: this key may not send on the channel {channel.name!r}; it may send on {names}.", FORBIDDEN
    )


def on_its_channels(queryset: QuerySet, api_key: ApiKey) -> QuerySet:
    """Messages and jobs a key may read: on every channel, or on the channels it is limited to."""
    return queryset if api_key.every_channel else queryset.filter(channel_id__in=allowed_channel_ids(api_key))


def member_field(data: dict, api_key: ApiKey, problems: Problems):
    """The team member named by user_id (shown as the sender), or None when absent.

    A key may name its owner; only an administrator's key may name another team member. Every
    other id gets the same answer whether or not it exists, and for an administrator's key an
    unknown id, a deactivated user and a non-staff user get the same answer too, so ids cannot be
    probed.
    """
    user_id = id_field(data, "user_id", problems)
    if user_id is None:
        return None
    if user_id == api_key.user_id:
        return api_key.user
    if not api_key.may_name_any_member:
        problems.add(
            f"user_id: {user_id} is not allowed; this key may name only its owner (user_id {api_key.user_id}).",
            FORBIDDEN,
        )
        return None
    member = get_user_model().objects.filter(pk=user_id, is_active=True, is_staff=True).first()
    if member is None:
        problems.add(f"user_id: {user_id} is not an active team member.", NOT_FOUND)
    return member


def contact_saving_scope(saving: ContactSaving, api_key: ApiKey, problems: Problems) -> None:
    """Refuse saving when the key may not save, and a list the key may not add contacts to."""
    if saving.save and api_key.contact_saving == ApiKey.ContactSaving.OFF:
        problems.add("contact_saving.save: this key may not save contacts (its contact saving is off).", FORBIDDEN)
    listed = saving.contact_list
    if listed is not None and not api_key.contact_lists.filter(pk=listed.pk).exists():
        problems.add(
            f"contact_saving.list_id: this key may not add contacts to the list {listed.name!r} "
            f"(list_id {listed.pk}); it may add to {lists_named(api_key)}.",
            FORBIDDEN,
        )


def lists_named(api_key: ApiKey) -> str:
    names = [repr(name) for name in ContactList.objects.filter(api_keys=api_key).values_list("name", flat=True)]
    return ", ".join(names) if names else "no list"


def may_update_contacts(api_key: ApiKey) -> bool:
    return api_key.contact_saving == ApiKey.ContactSaving.UPDATE
