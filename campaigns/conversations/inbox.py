"""The inbox's reads and verbs: a conversation's messages both ways, a staff reply, read / done / reopen.

Built for a million replies: a conversation page reads at most ``PAGE`` rows of each direction through
an index (inbound: (conversation, received_at); outbound: the number's index on ``to``), and every
count here stops at a bound. The admin pages (campaigns/admin/inbox.py) only call these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from campaigns.content.personalisation import message_text
from campaigns.conversations.window import FREE_TEXT_WINDOW, keeps_window
from campaigns.models import Conversation, InboundMessage, OutboundMessage, WhatsAppTemplate
from campaigns.models.staff import zone_label
from campaigns.whatsapp.failures import failure_words
from campaigns.whatsapp.preview import needed_rows, phone_preview, provider_variables, row_label, sample_for

PAGE = 30  # messages a conversation page shows; "Older messages" pages back from the oldest shown
UNREAD_SHOWN_UP_TO = 1000  # the dashboard counts conversations with unread replies up to here
REPLY_MAX_LENGTH = 1600  # ten SMS parts; WhatsApp takes 4,096


@dataclass
class Entry:
    """One message of a conversation, either way, as the page and its JSON show it."""

    key: str  # "in-12" / "out-34": unique on the page, so the live updates find it again
    direction: str  # "in" (the contact wrote) or "out" (we sent)
    at: datetime
    text: str
    status: str = ""  # an outbound message's status code
    status_label: str = ""
    detail: str = ""  # who sent it, its campaign, the keyword it meant, its error
    media: list[str] | None = None

    def as_json(self) -> dict:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["at_text"] = shown_time(self.at)
        return data


def shown_time(moment: datetime) -> str:
    """A moment in the viewer's zone, as the page lists it ("Mon 07 Dec, 09:12")."""
    return f"{timezone.localtime(moment):%a %d %b, %H:%M}"


def short_time(moment: datetime) -> str:
    """For a list: the time alone today, the day and time this year, the date before."""
    local, today = timezone.localtime(moment), timezone.localdate()
    if local.date() == today:
        return f"{local:%H:%M}"
    if local.year == today.year:
        return f"{local:%a %d %b, %H:%M}"
    return f"{local:%d %b %Y}"


def shown_time_with_zone(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%a %d %b %Y, %H:%M} {zone_label(at=moment)}"


# --- reading a conversation -------------------------------------------------------------------------


def inbound_entries(conversation: Conversation, before: datetime | None, limit: int) -> list[Entry]:
    rows = InboundMessage.objects.filter(conversation=conversation)
    if before is not None:
        rows = rows.filter(received_at__lt=before)
    rows = rows.order_by("-received_at", "-id").only("id", "received_at", "text", "media", "keyword", "profile_name")
    return [inbound_entry(message) for message in rows[:limit]]


def inbound_entry(message: InboundMessage) -> Entry:
    notes = [f"keyword {message.keyword}"] if message.keyword else []
    if message.profile_name:
        notes.insert(0, message.profile_name)
    media = [item.get("url", "") for item in message.media if isinstance(item, dict)] if message.media else []
    return Entry(
        key=f"in-{message.pk}",
        direction="in",
        at=message.received_at,
        text=message.text,
        detail=" · ".join(notes),
        media=media or None,
    )


def outbound_rows(conversation: Conversation):
    """Our messages to this number on this channel: the (to, id) index finds them, newest first."""
    return OutboundMessage.objects.filter(to=conversation.phone, channel_id=conversation.channel_id)


def outbound_entries(conversation: Conversation, before: datetime | None, limit: int) -> list[Entry]:
    rows = outbound_rows(conversation)
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    rows = rows.select_related("campaign__template", "contact").order_by("-id")  # ids grow with created_at
    return [outbound_entry(message, conversation.channel.provider) for message in rows[:limit]]


def outbound_entry(message: OutboundMessage, provider: str = "") -> Entry:
    notes = []
    if message.campaign_id:
        notes.append(f"campaign {message.campaign.name}")
    elif message.sender_label:
        notes.append(f"by {message.sender_label}")
    if words := failure_words(provider, message.error_code, message.error_message):
        notes.append(words)  # the 24-hour rule, in the words the reply box says it
    elif message.error_message:
        notes.append(message.error_message)
    return Entry(
        key=f"out-{message.pk}",
        direction="out",
        at=message.created_at,
        text=message_text(message) or ("(template)" if message.template else ""),
        status=message.status,
        status_label=message.get_status_display(),
        detail=" · ".join(notes),
        media=list(message.media_urls) or None,
    )


@dataclass
class Timeline:
    """A page of a conversation, oldest first, and where the page before it starts."""

    entries: list[Entry]
    older_before: datetime | None  # None: nothing older


def timeline(conversation: Conversation, before: datetime | None = None, limit: int | None = None) -> Timeline:
    """The latest ``limit`` messages either way (before ``before`` when paging back), oldest first.

    Each direction reads at most ``limit`` rows; merged by time, the newest ``limit`` are shown and
    the oldest of them is where "Older messages" continues.
    """
    limit = limit or PAGE
    both = inbound_entries(conversation, before, limit + 1) + outbound_entries(conversation, before, limit + 1)
    both.sort(key=lambda entry: entry.at, reverse=True)
    shown = both[:limit]
    older = shown[-1].at if len(both) > limit else None
    return Timeline(entries=list(reversed(shown)), older_before=older)


# --- replying -----------------------------------------------------------------------------------------


def window_refusal(conversation: Conversation, now: datetime | None = None) -> str:
    """Why free text cannot go to this conversation now, in staff words ("" when it can): WhatsApp's
    24-hour rule (campaigns/conversations/window.py) as the reply box says it."""
    if not keeps_window(conversation.channel):
        return ""
    now = now or timezone.now()
    last = conversation.last_inbound_at
    if last is not None and now - last <= FREE_TEXT_WINDOW:
        return ""
    who = contact_label(conversation)
    if last is None:
        since = f"{who} has not written to this channel yet"
    else:
        since = f"{who} last wrote on {shown_time_with_zone(last)}, more than 24 hours ago"
    return (
        f"On WhatsApp a business may write freely only within 24 hours of the contact's last message, "
        f"and {since}. Reach them with an approved WhatsApp template instead (chosen below, or a campaign); "
        "once they answer, you can reply here freely again."
    )


def window_closes_at(conversation: Conversation) -> datetime | None:
    """When free text stops being allowed (WhatsApp channels within the window), else None."""
    if not keeps_window(conversation.channel) or conversation.last_inbound_at is None:
        return None
    closes = conversation.last_inbound_at + FREE_TEXT_WINDOW
    return closes if closes > timezone.now() else None


def contact_label(conversation: Conversation) -> str:
    contact = conversation.contact
    return contact.name if contact is not None and contact.name else conversation.phone


def reply(conversation: Conversation, text: str, user) -> OutboundMessage:
    """Send ``text`` to the conversation's number through the normal pipeline (send_one: suppression and
    channel checks, the worker, receipts). Raises ValidationError with the reason when it may not go."""
    text = text.strip()
    if not text:
        raise ValidationError("text: write the reply first (it is empty).")
    if refusal := window_refusal(conversation):
        raise ValidationError(f"Not sent: {refusal}")
    try:
        message = OutboundMessage.send_one(
            channel=conversation.channel, to=conversation.phone, text=text, user=user, contact=conversation.contact
        )
    except ValidationError as error:
        raise ValidationError(f"Not sent: {' '.join(error.messages)}") from error
    # The reply is now the conversation's latest message; having answered, the person has read it.
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=message.created_at, last_text=text[:200], unread_count=0
    )
    return message


# Outside the window the reply box offers the channel's approved templates instead (at most this many).
REPLY_TEMPLATES_SHOWN = 50


@dataclass
class TemplateRow:
    """One value a template reply needs: its label, its form name and its sample."""

    part: str
    number: int | None
    label: str
    name: str
    sample: str


@dataclass
class ReplyTemplate:
    template: WhatsAppTemplate
    rows: list[TemplateRow]
    preview: str  # as the phone shows it, with the template's sample values

    @property
    def label(self) -> str:
        return f"{self.template.name} · {self.template.language}" if self.template.language else self.template.name


def reply_templates(conversation: Conversation) -> list[ReplyTemplate]:
    """The approved templates of the conversation's channel, each with the values it needs."""
    found = (
        WhatsAppTemplate.objects.filter(channel=conversation.channel, status="approved", missing_since__isnull=True)
        .select_related("channel")
        .order_by("name", "language")[:REPLY_TEMPLATES_SHOWN]
    )
    return [
        ReplyTemplate(
            template=template,
            rows=[
                TemplateRow(
                    part,
                    number,
                    row_label(part, number),
                    f"t{template.pk}-{part}-{number or 0}",
                    sample_for(template, part, number),
                )
                for part, number in needed_rows(template)
            ],
            preview=phone_preview(template, {}, samples=True).as_text(),
        )
        for template in found
    ]


def template_reply(conversation: Conversation, template_pk: str, posted, user) -> OutboundMessage:
    """Send one of the channel's approved templates with the values typed for it (``posted``: the form).
    Raises ValidationError naming what is missing or why it may not go."""
    chosen = next((t for t in reply_templates(conversation) if str(t.template.pk) == str(template_pk)), None)
    if chosen is None:
        raise ValidationError(
            f"Not sent: whatsapp_template: {template_pk!r} is not an approved template of "
            f"{conversation.channel.name!r}."
        )
    values = {(row.part, row.number): str(posted.get(row.name, "")).strip() for row in chosen.rows}
    empty = [row.label for row in chosen.rows if not values[(row.part, row.number)]]
    if empty:
        raise ValidationError(
            f"Not sent: {', '.join(empty)}: give a value for each of “{chosen.template}”'s variables."
        )
    template = {"id": chosen.template.provider_id, "variables": provider_variables(chosen.template, values)}
    try:
        message = OutboundMessage.send_one(
            channel=conversation.channel,
            to=conversation.phone,
            template=template,
            user=user,
            contact=conversation.contact,
        )
    except ValidationError as error:
        raise ValidationError(f"Not sent: {' '.join(error.messages)}") from error
    shown = phone_preview(chosen.template, template["variables"]).body
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=message.created_at, last_text=shown[:200], unread_count=0
    )
    return message


# --- read, done, reopen ---------------------------------------------------------------------------------


def mark_read(conversations) -> int:
    """Mark conversations read (a queryset): only the rows with unread replies are written."""
    return conversations.filter(unread_count__gt=0).update(unread_count=0)


def mark_done(conversations) -> int:
    return conversations.exclude(state=Conversation.State.DONE).update(state=Conversation.State.DONE)


def reopen(conversations) -> int:
    return conversations.exclude(state=Conversation.State.OPEN).update(state=Conversation.State.OPEN)


VERBS = {"read": mark_read, "done": mark_done, "reopen": reopen}


# --- the inbox as a whole ------------------------------------------------------------------------------


def unread_conversations():
    """Conversations with unread replies: the partial index conv_unread holds only these."""
    return Conversation.objects.filter(unread_count__gt=0)


@dataclass
class Unread:
    conversations: int
    replies: int
    capped: bool  # more than UNREAD_SHOWN_UP_TO conversations: the figures are "N+"


def unread_summary() -> Unread:
    """Conversations with unread replies and their unread replies, counted up to a bound."""
    counts = list(
        unread_conversations()
        .order_by("-last_message_at")
        .values_list("unread_count", flat=True)[: UNREAD_SHOWN_UP_TO + 1]
    )
    capped = len(counts) > UNREAD_SHOWN_UP_TO
    counts = counts[:UNREAD_SHOWN_UP_TO]
    return Unread(conversations=len(counts), replies=sum(counts), capped=capped)


def latest_change(unread: Unread | None = None) -> str:
    """A token that changes whenever a conversation gets a message or is read: what the inbox's live
    updates poll (the newest conversation, from conv_newest, and the bounded unread figures)."""
    newest = Conversation.objects.order_by("-last_message_at", "-id").values_list("id", "last_message_at").first()
    unread = unread or unread_summary()
    return f"{newest[0]}@{newest[1].isoformat()}/{unread.conversations}/{unread.replies}" if newest else "empty"


def keyword_replies() -> Q:
    """Conversations with at least one reply that was a keyword (the partial index inbound_keyword)."""
    keyworded = InboundMessage.objects.filter(conversation=OuterRef("pk")).exclude(keyword="")
    return Q(Exists(keyworded))
