"""What staff and API clients send to many recipients: campaigns (bulk jobs too)."""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from campaigns.models.template import MessageTemplate
from contacts.models import ContactList
from providers.models import Channel


class Campaign(models.Model):
    """One send to many recipients: a staff campaign to lists, or a bulk job from the API."""

    class Kind(models.TextChoices):
        CAMPAIGN = "campaign", "Campaign"
        BULK_API = "bulk_api", "Bulk API job"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CAMPAIGN)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="campaigns")
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, null=True, blank=True)
    text = models.TextField(blank=True, help_text="Used when no template is chosen; may hold {{ placeholders }}.")
    media_urls = models.JSONField(default=list, blank=True)
    provider_template = models.JSONField(null=True, blank=True)
    lists = models.ManyToManyField(ContactList, blank=True, related_name="campaigns")
    # Recipients given inline by the bulk API: [{"to": "+E164", "name": ..., <variables>...}].
    inline_recipients = models.JSONField(default=list, blank=True)
    exclude_lists = models.ManyToManyField(
        ContactList,
        blank=True,
        related_name="excluded_from_campaigns",
        verbose_name="leave out contacts in",
        help_text="Contacts in any of these lists get no message, even if they are in the audience.",
    )
    duplicates_allowed = models.BooleanField(
        default=False,
        verbose_name="send again to a number in several lists",
        help_text="Off: one message per number however many of the lists it is in.",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    status_reason = models.CharField(max_length=300, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Sending window in the recipient's local time (from the number); empty = any time of day.
    window_start = models.TimeField(
        null=True, blank=True, verbose_name="send from", help_text="Recipient's local time; empty for any time."
    )
    window_end = models.TimeField(
        null=True, blank=True, verbose_name="send until", help_text="Recipient's local time; empty for any time."
    )
    # Late-start guard: due more than this long ago (downtime, a stopped worker) it waits for a person.
    max_lateness = models.DurationField(
        null=True,
        blank=True,
        verbose_name="wait for me if late by more than",
        help_text="If it cannot start within this time of its schedule (e.g. after downtime), it waits for "
        "you to start it instead of going out late. Empty: always start, however late.",
    )
    archived_at = models.DateTimeField(null=True, blank=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set once every recipient has its OutboundMessage row; fan-out is idempotent until then.
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    recipient_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    sender_label = models.CharField(max_length=150, blank=True, help_text='Shown as the sender; "API" by default.')
    # A bulk job's status_callback: its messages' events and its completion are POSTed there.
    status_callback = models.CharField(max_length=500, blank=True)
    # Link tracking (campaigns/links/): each URL in the text becomes a short link per recipient.
    track_links = models.BooleanField(
        "Track links",
        default=True,
        help_text="Each web address in the text becomes a short link for each recipient, which counts their clicks.",
    )
    link_utm = models.CharField(
        "UTM parameters",
        max_length=300,
        blank=True,
        help_text="Added to each tracked link's address on a click, e.g. utm_source=sms&utm_campaign=spring.",
    )
    # A/B test then winner (campaigns/variants/): the variants go to a share of the audience first;
    # after the wait the best of them (by the metric, or a person's pick) goes to the rest.
    test_share = models.PositiveSmallIntegerField(
        "test on",
        null=True,
        blank=True,
        help_text="Percent of the audience who get the variants first; the rest get the winner. "
        "Empty: everyone gets a variant by the split at once.",
    )
    test_wait = models.DurationField(
        "pick the winner after", null=True, blank=True, help_text="How long after the test's messages are in."
    )
    winner_by = models.CharField(
        "winner by",
        max_length=8,
        blank=True,
        choices=[("clicks", "Click rate"), ("replies", "Reply rate"), ("person", "A person picks it")],
    )
    winner_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    winner = models.PositiveSmallIntegerField(null=True, blank=True, editable=False, help_text="Its position.")
    winner_note = models.CharField(max_length=300, blank=True, editable=False, help_text="How it was chosen.")
    # SMS fallback of a WhatsApp campaign (campaigns/whatsapp/fallback.py): a recipient WhatsApp cannot
    # reach gets this text once, through this SMS channel.
    fallback_channel = models.ForeignKey(
        Channel,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="fallback_campaigns",
        verbose_name="SMS fallback channel",
        help_text="WhatsApp campaigns: recipients who are not on WhatsApp get the fallback text by SMS "
        "through this channel. Empty: no fallback.",
    )
    fallback_text = models.TextField(
        "SMS fallback text",
        blank=True,
        help_text="Sent once to those recipients; the same placeholders as the message, such as {{ first_name }}.",
    )
    fallback_after = models.PositiveIntegerField(
        "Fallback when not delivered after (minutes)",
        null=True,
        blank=True,
        help_text="Also send the SMS to recipients whose WhatsApp message was accepted but not delivered "
        "within this many minutes (it may still arrive later). Empty: only those WhatsApp says are not on it.",
    )
    # Sent WhatsApp messages up to this sent_at have been checked against fallback_after (the periodic check).
    fallback_checked_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The periodic "not delivered in time" check finds its few campaigns by this.
            models.Index(
                fields=["fallback_checked_until"],
                condition=models.Q(fallback_after__isnull=False),
                name="campaign_fallback_timer",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # status_reason of a campaign paused because its channel stopped; resuming the channel resumes it.
    CHANNEL_PAUSE = "Paused because its channel stopped: "
    # status_reason of a scheduled campaign the late-start guard holds for a person (campaigns/pipeline/lifecycle.py).
    LATE_HOLD = "Waiting for you: "

    def message_text(self) -> str:
        return self.text or (self.template.body if self.template else "")

    def message_media(self) -> list[str]:
        if self.media_urls:
            return list(self.media_urls)
        return [self.template.media_url] if self.template and self.template.media_url else []

    def message_provider_template(self) -> dict | None:
        return self.provider_template or (self.template.provider_template if self.template else None)

    def audience_contacts(self):
        """Contacts in any of the campaign's lists and in none of its exclusion lists (opted-out included).

        The one definition of the audience: the fan-out sends to these, the page counts them.
        """
        from contacts.models import Contact

        return Contact.objects.filter(memberships__contact_list__campaigns=self).exclude(
            memberships__contact_list__excluded_from_campaigns=self
        )

    def problems_before_launch(self) -> list[str]:
        """What stops this campaign from going out, in words for staff (empty: ready)."""
        problems = []
        own = self.message_text() or self.message_media() or self.message_provider_template()
        if not own and not (self.pk and self.variants.exists()):
            problems.append("It has no text, media or template.")
        if self.kind == self.Kind.CAMPAIGN and not self.lists.exists():
            problems.append("It has no contact list to send to.")
        if not self.channel.is_active:
            problems.append(f"Its channel {self.channel.name!r} is switched off.")
        if self.test_share is not None and not (self.pk and self.variants.count() >= 2):
            problems.append("Its A/B test needs at least two variants.")
        return problems

    def launch(self, at=None) -> bool:
        """Schedule a draft campaign for ``at`` (None or past: now); False if not a draft.

        Staff pages call this only after problems_before_launch() found none (a past ``at`` is one).
        """
        from campaigns.pipeline.fanout import enqueue_fan_out

        now = timezone.now()
        due = at if at is not None and at > now else now
        with transaction.atomic():
            changed = Campaign.objects.filter(pk=self.pk, status=self.Status.DRAFT).update(
                status=self.Status.SCHEDULED, scheduled_at=due, status_reason="", updated_at=now
            )
            if changed:
                enqueue_fan_out(self.pk, at=due if due > now else None)
        if changed:
            self.status, self.scheduled_at = self.Status.SCHEDULED, due
        return bool(changed)

    def pause(self, reason: str = "") -> bool:
        """Stop new sends within one chunk; what is already with the provider is not recalled."""
        now = timezone.now()
        changed = Campaign.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(
            status=self.Status.PAUSED, status_reason=reason[:300], updated_at=now
        )
        if changed:
            self.status, self.status_reason = self.Status.PAUSED, reason[:300]
        return bool(changed)

    def resume(self) -> bool:
        """Carry on from the messages still queued (nothing is sent twice: claims are atomic)."""
        from campaigns.pipeline.fanout import enqueue_fan_out
        from campaigns.pipeline.queueing import enqueue_dispatch

        now = timezone.now()
        with transaction.atomic():
            changed = Campaign.objects.filter(pk=self.pk, status=self.Status.PAUSED).update(
                status=self.Status.RUNNING, status_reason="", updated_at=now
            )
            if changed:
                fanned_out = Campaign.objects.filter(pk=self.pk, fanned_out_at__isnull=False).exists()
                (enqueue_dispatch if fanned_out else enqueue_fan_out)(self.pk)
        if changed:
            self.status, self.status_reason = self.Status.RUNNING, ""
        return bool(changed)

    def cancel(self, reason: str) -> bool:
        """Cancel the campaign and every message of it that has not gone yet.

        Those messages' message.failed (error_code "cancelled") and its campaign.completed or
        bulk_job.completed (state "cancelled") are recorded with it; a draft, which has sent
        nothing and never started, tells nothing."""
        now = timezone.now()
        cancelled = {"status": self.Status.CANCELLED, "status_reason": reason[:300], "finished_at": now}
        live = [self.Status.SCHEDULED, self.Status.RUNNING, self.Status.PAUSED]
        with transaction.atomic():
            draft = Campaign.objects.filter(pk=self.pk, status=self.Status.DRAFT).update(**cancelled, updated_at=now)
            changed = draft or Campaign.objects.filter(pk=self.pk, status__in=live).update(**cancelled, updated_at=now)
            if changed:
                message_status = self.messages.model.Status
                waiting = [message_status.SCHEDULED, message_status.QUEUED]
                self.messages.filter(status__in=waiting).update(
                    status=message_status.CANCELLED, claim_token=None, error_message=reason, updated_at=now
                )
                # Its SMS fallbacks not sent yet go with it (they are single messages: campaigns/whatsapp/fallback.py),
                # those a send job has claimed but not handed over too: the hand-over takes only queued rows.
                self.sms_fallbacks.filter(status__in=waiting).update(
                    status=message_status.CANCELLED, claim_token=None, error_message=reason, updated_at=now
                )
                if not draft:
                    self.tell_cancelled(now, reason)
        if changed:
            self.status, self.status_reason, self.finished_at = self.Status.CANCELLED, reason[:300], now
        return bool(changed)

    def tell_cancelled(self, now, reason: str) -> None:
        """The events of this cancel, in its transaction: the messages it cancelled are those it
        stamped with its own time and reason (a message cancelled before keeps its own)."""
        from campaigns.events import record_cancellations, record_completion

        message_model = self.messages.model
        just_cancelled = message_model.objects.filter(
            models.Q(campaign=self) | models.Q(fallback_campaign=self),
            status=message_model.Status.CANCELLED,
            updated_at=now,
            error_message=reason,
        )
        record_cancellations(list(just_cancelled.values_list("pk", flat=True)), reason)
        record_completion(self.pk)

    @classmethod
    def pause_for_channel(cls, channel: Channel, reason: str) -> int:
        return cls.objects.filter(channel=channel, status=cls.Status.RUNNING).update(
            status=cls.Status.PAUSED, status_reason=(cls.CHANNEL_PAUSE + reason)[:300], updated_at=timezone.now()
        )

    @classmethod
    def resume_for_channel(cls, channel: Channel) -> int:
        paused = cls.objects.filter(
            channel=channel, status=cls.Status.PAUSED, status_reason__startswith=cls.CHANNEL_PAUSE
        )
        return sum(campaign.resume() for campaign in paused)

    @property
    def has_started(self) -> bool:
        return self.status != self.Status.SCHEDULED or self.fanned_out_at is not None

    def reschedule(self, send_at) -> bool:
        """Move a campaign that has not started to a new time (None or past: now); False once started.

        Also how a person releases a campaign the late-start guard holds: its reason is cleared.
        """
        from campaigns.pipeline.fanout import enqueue_fan_out

        now = timezone.now()
        due = send_at if send_at is not None and send_at > now else now
        with transaction.atomic():
            changed = Campaign.objects.filter(
                pk=self.pk, status=self.Status.SCHEDULED, fanned_out_at__isnull=True
            ).update(scheduled_at=due, status_reason="", updated_at=now)
            if changed:
                # The job held for the old time will find the new one not yet due and do nothing.
                enqueue_fan_out(self.pk, at=due if due > now else None)
        if changed:
            self.scheduled_at, self.status_reason = due, ""
        return bool(changed)

    def cancel_before_start(self, reason: str) -> bool:
        """Cancel a job that has not started; False once started (a cancelled one stays cancelled)."""
        from campaigns.events import record_completion, record_unsent_recipients

        now = timezone.now()
        with transaction.atomic():  # cancelled, and its recipients' and its own events recorded, together
            changed = Campaign.objects.filter(
                pk=self.pk, status=self.Status.SCHEDULED, fanned_out_at__isnull=True
            ).update(status=self.Status.CANCELLED, finished_at=now, updated_at=now, status_reason=reason[:300])
            if changed:
                if self.kind == self.Kind.BULK_API:
                    record_unsent_recipients(self, reason)
                record_completion(self.pk)
        if changed:
            self.status, self.finished_at, self.status_reason = self.Status.CANCELLED, now, reason[:300]
        return bool(changed) or self.status == self.Status.CANCELLED


class BulkJobManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=Campaign.Kind.BULK_API)


class BulkJob(Campaign):
    """The bulk messaging history: campaigns that came from POST /messages/bulk."""

    objects = BulkJobManager()

    class Meta:
        proxy = True
        verbose_name = "bulk job"
        ordering = ["-id"]
