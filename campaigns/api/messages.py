"""POST /message and GET /message/<id>: one message, read, checked, saved and queued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.api.http import ApiError
from campaigns.api.quota import counted_against_quota
from campaigns.api.scope import (
    allowed_channel_ids,
    channel_scope,
    contact_saving_scope,
    may_update_contacts,
    member_field,
    on_its_channels,
)
from campaigns.api.validation import (
    CONFLICT,
    ContactSaving,
    Problems,
    channel_field,
    contact_saving_field,
    is_whole_number,
    media_urls,
    personal_context,
    phone_field,
    provider_field,
    provider_problems,
    schedule_field,
    status_callback_field,
    template_field,
    text_field,
    unknown_fields,
)
from campaigns.conversations.window import free_text_refusal
from campaigns.models import ApiKey, OutboundMessage
from campaigns.pipeline.batching import send_soon
from campaigns.whatsapp.checks import template_refusal
from contacts.models import Contact, ContactList, ListMembership, Suppression
from messaging_site import plain_sql
from providers.models import Channel

MESSAGE_BODY_LIMIT = 1024 * 1024
CONTENT_FIELDS = ("text", "image_url", "image_urls", "video_url", "file_url", "template")  # the bulk API's too
MESSAGE_FIELDS = {
    *("provider", "channel_key", "to", "name", *CONTENT_FIELDS),
    *("contact_saving", "schedule", "user_id", "status_callback"),
}


@dataclass
class MessageRequest:
    """A checked POST /message body."""

    channel: Channel
    to: str
    name: str
    text: str
    media_urls: list[str]
    template: dict | None
    contact_saving: ContactSaving
    send_at: datetime | None
    member: object | None  # the team member named by user_id
    status_callback: str = ""  # where this message's events go (campaigns/events/)


def read_message(data: dict, api_key: ApiKey) -> MessageRequest:
    """Check every field, and the key's scope, at once; raise ApiError listing every problem found."""
    problems = Problems()
    unknown_fields(data, MESSAGE_FIELDS, problems)
    channel = channel_field(data, problems, getattr(api_key, "channels_generation", None))
    channel_scope(api_key, channel, problems)
    provider = provider_field(data, channel, problems)
    media = media_urls(data, problems)
    message = MessageRequest(
        channel=channel,
        to=phone_field(data.get("to"), "to", problems),
        name=text_field(data, "name", problems, max_length=200),
        text=text_field(data, "text", problems),
        media_urls=[url for _, url in media],
        template=template_field(data, provider, problems),
        contact_saving=contact_saving_field(data, problems),
        send_at=schedule_field(data, problems),
        member=member_field(data, api_key, problems),
        status_callback=status_callback_field(data, problems),
    )
    contact_saving_scope(message.contact_saving, api_key, problems)
    synced_template_field(channel, message.template, problems)
    require_content(data, problems)
    if problems:
        opted_out_field(message.to, problems)
        problems.raise_if_any()
    # Only a well-formed request is worth the provider's judgement (and its words).
    saving = message.contact_saving
    values = {**(saving.extra_fields if saving.save else {}), **({"name": message.name} if message.name else {})}
    context = personal_context(message.to, values)
    for problem in provider_problems(channel, message.text, media, message.template, context):
        problems.add(problem)
    if not problems and not message.template:
        window_field(message, problems)
    if problems:
        # An opted-out number is all a well-formed request is told (the provider's judgement and
        # the 24-hour rule are not asked for a number nothing may be sent to).
        refused = Problems()
        opted_out_field(message.to, refused)
        (refused or problems).raise_if_any()
    # The suppression list itself is asked by the INSERT (send_message), in the same statement.
    return message


def synced_template_field(channel: Channel | None, template: dict | None, problems: Problems) -> None:
    """Once a channel's templates have been synced, a template id it does not list, or one not
    approved, is a 400 naming it and why (before that, the provider's own answer decides)."""
    if channel is not None and template and (refusal := template_refusal(channel, template)):
        problems.add(f"template.id: {refusal}")


def opted_out_field(to: str, problems: Problems) -> None:
    """A number on the suppression list is a 409 naming it and the rule (its contact may be gone)."""
    if to and (refusal := Suppression.refusal(to, field="to")):
        problems.add(refusal, status=CONFLICT)


def window_field(message: MessageRequest, problems: Problems) -> None:
    """Free-form WhatsApp outside the 24-hour window is a 409 naming the number and the rule."""
    field = "text" if message.text else "media_urls"
    if refusal := free_text_refusal(message.channel, message.to, field=field):
        problems.add(refusal, status=CONFLICT)


def require_content(data: dict, problems: Problems) -> None:
    if not any(data.get(name) not in (None, "", []) for name in CONTENT_FIELDS):
        problems.add("text: a message needs text, image_url / image_urls / video_url / file_url, or a template.")


def sender_label(member) -> str:
    """Who the message shows as sent by: the team member, or "API"."""
    if member is None:
        return "API"
    return member.get_full_name() or member.get_username()


def send_message(message: MessageRequest, api_key: ApiKey) -> OutboundMessage:
    """Count it against the key's daily quota, save the contact if asked, then queue or schedule
    the message; all or nothing."""
    try:
        with counted_against_quota(api_key, 1):
            if not message.contact_saving.save:
                return queue_message(message, api_key, contact=None)
            with transaction.atomic():
                return queue_message(message, api_key, contact=save_contact(message, may_update_contacts(api_key)))
    except ValidationError as error:
        raise ApiError(400, error.messages) from None


def queue_message(message: MessageRequest, api_key: ApiKey, contact: Contact | None) -> OutboundMessage:
    """Save the message, unless its number is on the suppression list (a 409 naming it, and the
    caller's transaction and quota undone), and give it to the workers."""
    sent = OutboundMessage.new_one(
        channel=message.channel,
        to=message.to,
        text=message.text,
        media_urls=message.media_urls,
        template=message.template,
        send_at=message.send_at,
        user=message.member or api_key.user,
        sender_label=sender_label(message.member),
        contact=contact,  # None: the contact with its number, found by the INSERT
        variables={"name": message.name} if message.name else None,
        status_callback=message.status_callback,
    )
    while not sent.insert_unless_suppressed():
        refused = Problems()
        opted_out_field(message.to, refused)
        refused.raise_if_any()  # else it left the list in between: insert again
    if sent.status == OutboundMessage.Status.QUEUED:
        send_soon(sent.pk)
    else:
        sent.enqueue()  # a scheduled message waits for its own time
    return sent


def save_contact(message: MessageRequest, may_update: bool) -> Contact:
    """Save the contact by phone. A new one takes the name and extra fields; an existing one keeps
    its own unless the key may update contacts (then the name if given, extra fields merged over
    its own): by default a caller cannot rename a contact staff keep."""
    saving = message.contact_saving
    defaults = {"name": message.name, "extra_fields": saving.extra_fields}
    contact, created = Contact.objects.get_or_create(phone=message.to, defaults=defaults)
    if not created and may_update and (message.name or saving.extra_fields):
        contact.name = message.name or contact.name
        contact.extra_fields = {**(contact.extra_fields or {}), **saving.extra_fields}
        contact.save(update_fields=["name", "extra_fields", "updated_at"])
    if saving.contact_list is not None:
        add_to_list(contact, saving.contact_list)
    return contact


def add_to_list(contact: Contact, contact_list: ContactList) -> None:
    ListMembership.objects.bulk_create(
        [ListMembership(contact=contact, contact_list=contact_list)], ignore_conflicts=True
    )


def visible_to(queryset: QuerySet, api_key: ApiKey) -> QuerySet:
    """A key (always a staff user's) sees what was sent on the channels it may send on."""
    return on_its_channels(queryset, api_key)


# What message_state shows (and the channel, which the key's scope filters on).
STATE_FIELDS = (
    "status", "to", "provider_message_id", "error_code", "error_message", "send_at", "sent_at", "delivered_at",
    "campaign_id", "created_at", "channel_id",
)  # fmt: skip
TIME_FIELDS = ("send_at", "sent_at", "delivered_at", "created_at")


def find_message(message_id: str, api_key: ApiKey) -> OutboundMessage:
    """The message, if the key may see it (its channel), with STATE_FIELDS read; or a 404.

    One SELECT by primary key written out, not built by the ORM: building it cost four times the
    query itself, the most of a GET /message's time (bench/receipts.py). On PostgreSQL it goes on
    a plain psycopg cursor (messaging_site/plain_sql.py), its parameters bound by the server: one
    statement text whatever the key's channels, prepared once per connection."""
    row = None
    if is_whole_number(message_id) and len(message_id) <= 18:
        row = state_row(int(message_id), None if api_key.every_channel else sorted(allowed_channel_ids(api_key)))
    if row is None:
        raise ApiError(404, [f"message_id: {message_id[:40]!r} is not a message this key can see."])
    message = OutboundMessage.from_db(connection.alias, state_columns(), row)
    for name in TIME_FIELDS:
        setattr(message, name, aware(getattr(message, name)))
    return message


def state_row(message_id: int, channels: list[int] | None) -> tuple | None:
    """The message's state columns; None when it is not on ``channels`` (None: any channel)."""
    sql, params = state_query(), [message_id]
    if connection.vendor == "postgresql":
        if channels is not None:
            sql, params = f"{sql} AND channel_id = ANY(%s)", [message_id, channels]
        return plain_sql.execute(sql, params, fetch_one=True)
    if channels is not None:
        channels = channels or [0]  # no channel: none matches
        sql += f" AND channel_id IN ({', '.join(['%s'] * len(channels))})"
        params.extend(channels)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@cache
def state_columns() -> list[str]:
    """The id and STATE_FIELDS, in the model's order (as from_db takes them)."""
    wanted = {"id", *STATE_FIELDS}
    return [field.attname for field in OutboundMessage._meta.concrete_fields if field.attname in wanted]


@cache
def state_query() -> str:
    fields = [OutboundMessage._meta.get_field(name) for name in state_columns()]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    return f"SELECT {columns} FROM {OutboundMessage._meta.db_table} WHERE id = %s"  # noqa: S608 - no input in it


def aware(value: datetime | str | None) -> datetime | None:
    """A time as the ORM gives it: PostgreSQL's are aware already; SQLite's are UTC without a zone."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def message_state(message: OutboundMessage) -> dict:
    return {
        "message_id": str(message.pk),
        "state": message.status,
        "to": message.to,
        "provider_message_id": message.provider_message_id,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "schedule": message.send_at,
        "sent_at": message.sent_at,
        "delivered_at": message.delivered_at,
        "job_id": str(message.campaign_id) if message.campaign_id else None,
        "created_at": message.created_at,
    }
