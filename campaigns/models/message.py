"""One message to one recipient, and the verbs that create, move and cancel it."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models.campaign import Campaign
from contacts.models import Contact, Suppression
from messaging_site import plain_sql
from providers.models import Channel


class OutboundMessage(models.Model):
    """One message to one recipient through one channel, and everything that happened to it."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Unknown"
        CANCELLED = "cancelled", "Cancelled"

    # PROTECT: a campaign with messages cannot be deleted, so its history is never lost (archive it).
    # Their indexes are (campaign, id) and (channel, id) below, not the column's alone.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, null=True, blank=True, related_name="messages", db_index=False
    )
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="messages", db_index=False)
    # Their indexes are (contact, id) and (to, id) below: a contact's timeline, newest first.
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages", db_index=False
    )
    to = models.CharField(max_length=16, help_text="E.164")
    # Within a campaign, the number (or number#position when duplicates are allowed): a unique key
    # that makes the fan-out safe to run twice.
    recipient_key = models.CharField(max_length=40, blank=True)
    body = models.TextField(blank=True)
    media_urls = models.JSONField(default=list, blank=True)
    template = models.JSONField(null=True, blank=True, help_text="Provider template: id and variables.")
    variables = models.JSONField(null=True, blank=True, help_text="This recipient's personalisation values.")
    # A WhatsApp template message as it was handed over (campaigns/whatsapp/preview.py): the template's
    # id and name, the values sent and the preview. Written once, at the first hand-over; a retry
    # sends these same values (campaigns.pipeline.sending.render_message), never rendered anew.
    sent_template = models.JSONField(
        null=True, blank=True, editable=False, help_text="The WhatsApp template as sent: id, name, values, preview."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    send_at = models.DateTimeField(null=True, blank=True, help_text="When it is to go; empty means now.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    sender_label = models.CharField(max_length=150, blank=True)
    # The API request's status_callback: this message's events are POSTed there (campaigns/events/).
    status_callback = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A person's decision on a message whose outcome was unknown (campaigns/pipeline/unknown_outcomes.py).
    resolution = models.CharField(max_length=400, blank=True, help_text="What a person decided, and why.")
    resolved_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # A campaign's A/B variant this recipient got (CampaignVariant.position; campaigns/variants/).
    # Empty for a campaign without variants, and for a test's rest until the winner is chosen.
    variant = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    # The opt-out confirmation (campaigns.conversations.keywords): the one message that may go to a
    # number an opt-out word has just put on the suppression list. Set only by send_one for that
    # reply, never editable; the send-time check lets it through, and it is never resent.
    confirms_opt_out = models.BooleanField(default=False, editable=False)
    # The answer to a HELP (campaigns.conversations.keywords): carriers (CTIA) expect HELP answered
    # whatever the number's opt-in state, so it too may go to a suppressed number. Set only by
    # send_one for that answer; it says who is sending and how to stop, never markets anything.
    answers_help = models.BooleanField(default=False, editable=False)
    # An SMS fallback (campaigns/whatsapp/fallback.py): the WhatsApp message it stands in for (at most
    # one fallback each: the unique constraint below), the campaign it counts for, and why it went.
    # It is a single message (campaign empty), so the campaign's own figures stay WhatsApp's.
    fallback_for = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        editable=False,
        verbose_name="SMS fallback for",
    )
    fallback_campaign = models.ForeignKey(
        Campaign,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sms_fallbacks",
        db_index=False,
        editable=False,
        verbose_name="SMS fallback of campaign",
    )
    fallback_reason = models.CharField(max_length=40, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("resolve_outcome", "Can resolve messages with an unknown outcome (mark or resend them)"),
            # For administrators: /admin/rq/ empties queues and deletes jobs (a campaign's wake-up
            # included), /admin/metrics/ shows every channel's traffic (messaging_site/permissions.py).
            ("operate_queues", "Can run the job queues and read the metrics"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "recipient_key"],
                condition=Q(campaign__isnull=False),
                name="one_message_per_campaign_recipient",
            ),
            # A WhatsApp message gets one SMS fallback however many failure receipts or checks ask.
            models.UniqueConstraint(
                fields=["fallback_for"], condition=Q(fallback_for__isnull=False), name="one_fallback_per_message"
            ),
        ]
        indexes = [
            # Partial indexes stay small however many finished rows pile up.
            models.Index(
                fields=["send_at"], condition=Q(status="scheduled", campaign__isnull=True), name="msg_scheduled_due"
            ),
            # A campaign's messages waiting for their recipients' sending hours, by when they may go.
            models.Index(
                fields=["campaign", "send_at"],
                condition=Q(status="scheduled", campaign__isnull=False),
                name="msg_campaign_waiting",
            ),
            models.Index(fields=["next_attempt_at"], condition=Q(status="queued"), name="msg_queued_due"),
            models.Index(fields=["claimed_at"], condition=Q(status="sending"), name="msg_sending_claimed"),
            models.Index(fields=["campaign", "status"], name="msg_campaign_status"),
            # Results per A/B variant: one GROUP BY over the campaign's rows of this index alone.
            models.Index(fields=["campaign", "variant", "status"], name="msg_campaign_variant"),
            # Sent messages still waiting for a delivery report, oldest-asked first (sendbulk poller).
            models.Index(
                fields=["channel", "updated_at"], condition=Q(status="sent"), name="msg_sent_awaiting_receipt"
            ),
            models.Index(fields=["claim_token"], condition=Q(claim_token__isnull=False), name="msg_claim"),
            # Unknown outcomes for a person to resolve (the dashboard counts them).
            models.Index(fields=["updated_at"], condition=Q(status="unknown"), name="msg_unknown"),
            models.Index(
                fields=["channel", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="msg_provider_id",
            ),
            # The message log, newest first, by each of its filters: a page finds its 100 ids in one of
            # these alone, in order, however many millions match (campaigns/admin/message_log.py). The
            # first two are also the foreign keys' indexes; status in the first serves a campaign's
            # messages in one state. By status: the states few messages are in, often clustered in one
            # campaign (queued and sending are the newest messages, delivered, read and sent most of
            # them: found at once newest first). Partial, so sends and fan-outs rarely write it.
            models.Index(fields=["campaign", "id", "status"], name="msg_by_campaign"),
            models.Index(fields=["channel", "id"], name="msg_by_channel"),
            models.Index(
                fields=["status", "id"],
                condition=Q(status__in=["scheduled", "failed", "undelivered", "unknown", "cancelled"]),
                name="msg_by_status",
            ),
            models.Index(fields=["id"], condition=Q(campaign__isnull=True), name="msg_single"),
            # A number's or a contact's messages newest first (the contact timeline reads a page of
            # each, campaigns/conversations/timeline.py); also every lookup by number or contact.
            models.Index(fields=["to", "id"], name="msg_by_number"),
            models.Index(fields=["contact", "id"], name="msg_by_contact"),
            # A campaign's SMS fallbacks by state (its progress, export and cost), and its sent WhatsApp
            # messages by when they went (the "not delivered in time" check reads a range of these).
            models.Index(
                fields=["fallback_campaign", "status"],
                condition=Q(fallback_campaign__isnull=False),
                name="msg_fallbacks",
            ),
            models.Index(fields=["campaign", "sent_at"], condition=Q(status="sent"), name="msg_campaign_sent"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} to {self.to} ({self.status})"

    @property
    def is_editable(self) -> bool:
        """Staff may change a message until a worker picks it up."""
        return self.status in (self.Status.SCHEDULED, self.Status.QUEUED) and self.claim_token is None

    @classmethod
    def send_one(
        cls,
        *,
        channel: Channel,
        to: str,
        contact: Contact | None = None,
        enqueue: bool = True,
        confirms_opt_out: bool = False,
        answers_help: bool = False,
        **content,
    ) -> OutboundMessage:
        """Create one message and queue it now, or schedule it when ``send_at`` is in the future.

        ``to`` must already be E.164. Refuses a number on the suppression list and an inactive channel.
        ``enqueue=False`` leaves giving it a send job to the caller (the API batches them).
        ``confirms_opt_out`` is for the keyword handler alone: the confirmation of an opt-out that
        has just suppressed ``to``, sent once (the handler sends it only when its STOP put the
        number on the list), past the suppression list. ``answers_help`` is for it too: the answer
        to a HELP, which goes past the suppression list as well. ``content``: what new_one takes.
        """
        if not channel.is_active:
            raise ValidationError(f"channel_key: the channel {channel.name!r} is switched off.")
        if not (confirms_opt_out or answers_help) and (refusal := Suppression.refusal(to)):
            raise ValidationError(refusal)
        contact = contact or Contact.objects.filter(phone=to).first()
        # One INSERT needs no transaction of its own; enqueue() waits for the caller's commit
        # when there is one, and runs at once otherwise (the row is already committed).
        message = cls.new_one(channel=channel, to=to, contact=contact, confirms_opt_out=confirms_opt_out, **content)
        message.answers_help = answers_help
        message.save(force_insert=True)
        if enqueue:
            message.enqueue()
        return message

    @classmethod
    def new_one(
        cls,
        *,
        channel: Channel,
        to: str,
        text: str = "",
        media_urls: list[str] | None = None,
        template: dict | None = None,
        send_at=None,
        user=None,
        sender_label: str = "",
        contact: Contact | None = None,
        variables: dict | None = None,
        confirms_opt_out: bool = False,
        status_callback: str = "",
    ) -> OutboundMessage:
        """One message, not saved yet: queued, or scheduled when ``send_at`` is in the future."""
        scheduled = send_at is not None and send_at > timezone.now()
        return cls(
            channel=channel,
            contact=contact,
            to=to,
            body=text,
            media_urls=list(media_urls or []),
            template=template,
            variables=variables or None,
            status=cls.Status.SCHEDULED if scheduled else cls.Status.QUEUED,
            send_at=send_at,
            created_by=user,
            sender_label=sender_label or (user.get_username() if user else "API"),
            confirms_opt_out=confirms_opt_out,
            status_callback=status_callback,
        )

    def insert_unless_suppressed(self) -> bool:
        """INSERT this new message unless its number is on the suppression list, taking the contact
        with its number when it has none: one statement, where the API made three (the suppression
        check, the contact lookup and the ORM's INSERT; bench/receipts.py). False, and nothing
        written, when the number is suppressed.

        On PostgreSQL the statement goes on a plain psycopg cursor (messaging_site/plain_sql.py):
        its 30 parameters bound by the server rather than quoted one by one in Python, and the
        statement prepared once per connection rather than planned again for every message."""
        values, params = [], []
        defaults = prepared_defaults(connection.vendor)
        for field, placeholder in zip(inserted_fields(), placeholders(connection.vendor), strict=True):
            value = getattr(self, field.attname)
            default = defaults.get(field.attname)
            if default is not None and type(value) is type(default[0]) and value == default[0]:
                value = default[1]  # a column this message leaves at its default: prepared once
            else:
                value = field.get_db_prep_save(field.pre_save(self, add=True), connection)
            if field.attname == "contact_id" and value is None:
                values.append(f"(SELECT id FROM {Contact._meta.db_table} WHERE phone = %s)")  # noqa: S608 - our name
                params.append(self.to)
            else:
                values.append(placeholder)
                params.append(value)
        sql = (
            f"INSERT INTO {self._meta.db_table} ({inserted_columns()}) SELECT {', '.join(values)} "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT 1 FROM {Suppression._meta.db_table} WHERE number = %s) "
            "RETURNING id, contact_id"
        )
        if connection.vendor == "postgresql":
            row = plain_sql.execute(sql, [*params, self.to], fetch_one=True)
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, [*params, self.to])
                row = cursor.fetchone()
        if row is None:
            return False
        self.pk, self.contact_id = row
        self._state.adding, self._state.db = False, connection.alias
        return True

    def enqueue(self) -> None:
        """Give this message a send job: now if queued, at its time if scheduled."""
        from campaigns.pipeline.queueing import enqueue_send

        at = self.send_at if self.status == self.Status.SCHEDULED else None
        enqueue_send([self.pk], at=at)

    def reschedule(self, send_at) -> bool:
        """Move a message that has not gone yet to a new time (None or past = now)."""
        now = timezone.now()
        future = send_at is not None and send_at > now
        status = self.Status.SCHEDULED if future else self.Status.QUEUED
        with transaction.atomic():
            changed = OutboundMessage.objects.filter(
                pk=self.pk, status__in=[self.Status.SCHEDULED, self.Status.QUEUED], claim_token__isnull=True
            ).update(status=status, send_at=send_at, next_attempt_at=None, updated_at=now)
            if changed:
                self.status, self.send_at = status, send_at
                self.enqueue()
        return bool(changed)

    CANCELLED_BY_STAFF = "Cancelled before it was sent."

    def cancel(self) -> bool:
        """Cancel a message that has not gone yet; False if a worker already has it. Its
        message.failed (error_code "cancelled") is recorded with it, for whoever listens."""
        from campaigns.events import record_cancellations

        with transaction.atomic():
            changed = OutboundMessage.objects.filter(
                pk=self.pk, status__in=[self.Status.SCHEDULED, self.Status.QUEUED], claim_token__isnull=True
            ).update(status=self.Status.CANCELLED, updated_at=timezone.now())
            if changed:
                record_cancellations([self.pk], self.CANCELLED_BY_STAFF)
        return bool(changed)


@cache
def inserted_fields() -> list:
    """OutboundMessage's columns an INSERT writes (all but the id), in the model's order."""
    return [field for field in OutboundMessage._meta.concrete_fields if not field.primary_key]


@cache
def prepared_defaults(vendor: str) -> dict[str, tuple]:
    """Column by column, (default, as the database takes it) for the columns whose default is one
    fixed plain value (most of them, for a message the API makes): preparing 30 values through
    their fields was a fifth of a POST /message's CPU (bench/receipts.py). Not the times the
    fields set themselves (auto_now), nor defaults made anew each time (a list, a dict)."""
    found = {}
    for field in inserted_fields():
        made_anew = field.has_default() and callable(field.default)
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) or made_anew:
            continue
        default = field.get_default()
        if default is None or isinstance(default, str | int | bool):
            found[field.attname] = (default, field.get_db_prep_save(default, connection))
    return found


@cache
def placeholders(vendor: str) -> list[str]:
    """Each inserted column's placeholder. PostgreSQL binds the parameters itself, and a NULL in a
    SELECT list has no type of its own (it would be text): each says its column's type."""
    if vendor != "postgresql":
        return ["%s"] * len(inserted_fields())
    return [f"%s::{field.cast_db_type(connection)}" for field in inserted_fields()]


@cache
def inserted_columns() -> str:
    return ", ".join(connection.ops.quote_name(field.column) for field in inserted_fields())
