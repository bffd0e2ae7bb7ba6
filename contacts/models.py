from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.phones import normalise_phone
from contacts.sets import insert_select


class ContactQuerySet(models.QuerySet):
    def reachable(self) -> ContactQuerySet:
        """Contacts whose number is not on the suppression list."""
        return self.exclude(models.Exists(Suppression.objects.filter(number=models.OuterRef("phone"))))

    def suppressed(self) -> ContactQuerySet:
        """Contacts whose number is on the suppression list."""
        return self.filter(models.Exists(Suppression.objects.filter(number=models.OuterRef("phone"))))


class Contact(models.Model):
    """A person we can message, identified by one E.164 phone number.

    ``opted_out_at`` and ``opt_out_reason`` mirror the number's Suppression row (the source of truth
    for "may we message this number"), for filters and display: every writer of the suppression list
    updates them in the same transaction, and a contact saved with a suppressed number shows it.
    """

    class Origin(models.TextChoices):
        ADDED = "", "Added (by staff, an import or the API)"
        REPLY = "reply", "Came from a reply"

    phone = models.CharField(max_length=16, unique=True, help_text="E.164, e.g. +447700900123")
    name = models.CharField(max_length=200, blank=True)
    # A number we never had that wrote to one of our channels gets a contact of its own, on no list:
    # staff see where it came from, and nothing is sent to it until someone adds it to a list.
    # db_default: the importers write contacts with their own INSERT ... SELECT.
    origin = models.CharField(max_length=8, choices=Origin.choices, db_default="", default="", blank=True)
    extra_fields = models.JSONField(default=dict, blank=True, help_text="Values for template placeholders.")
    opted_out_at = models.DateTimeField(null=True, blank=True, db_index=True)
    opt_out_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The changelist's "came from a reply" filter, newest first: small, as few contacts come so.
            models.Index(fields=["-id"], condition=models.Q(origin="reply"), name="contact_from_reply"),
        ]
        # The phone search is a prefix search served by the unique index (and, on PostgreSQL, the
        # varchar_pattern_ops twin Django adds to it); the name search on PostgreSQL is served by a
        # trigram index that migration 0002 creates where pg_trgm is available.

    def __str__(self) -> str:
        return f"{self.name} {self.phone}".strip()

    def save(self, *args, **kwargs) -> None:
        """Keep the mirror true whoever saves: a suppressed number shows opted out (a re-imported or
        re-added number stays opted out), and a new contact saved opted out suppresses its number
        (a later save of an old copy in memory never puts a number back on the list)."""
        if self.opted_out_at is None and self.phone:
            found = Suppression.objects.filter(number=self.phone).values_list("suppressed_at", "reason").first()
            if found:
                self.opted_out_at, self.opt_out_reason = found[0], found[1][:200]
                if kwargs.get("update_fields") is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "opted_out_at", "opt_out_reason"}
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding and self.opted_out_at is not None:
            reason = self.opt_out_reason or "Marked opted out on the contact"
            Suppression.add([self.phone], source=Suppression.Source.CONTACT, reason=reason, at=self.opted_out_at)

    def clean(self) -> None:
        try:
            self.phone = normalise_phone(self.phone)
        except ValidationError as error:
            raise ValidationError({"phone": error.messages}) from None

    @property
    def is_opted_out(self) -> bool:
        return self.opted_out_at is not None

    @classmethod
    def opt_out_phone(cls, phone: str, reason: str, source: str = "reply", channel: str = "", by=None) -> bool:
        """Record that this number asked to stop (on the suppression list, mirrored on its contact);
        creates the contact if we never saw it. True if this put the number on the list (of two
        STOPs at once, exactly one), False if it was there already."""
        with transaction.atomic():
            added = Suppression.add_number(phone, source=source, reason=reason, channel=channel, by=by)
            cls.objects.get_or_create(phone=phone)
        return added

    @classmethod
    def opt_in_phone(cls, phone: str, reason: str = "Replied with an opt-in word (START)") -> bool:
        """The number replied START (or the like): take it off the suppression list and keep a record
        of it on its contact (created if the contact was deleted meanwhile). True if it was on the list."""
        with transaction.atomic():
            if Suppression.objects.filter(number=phone).exists():
                cls.objects.get_or_create(phone=phone)
            return bool(cls.opt_in(cls.objects.filter(phone=phone), source=OptInRecord.Source.REPLY, reason=reason))

    @classmethod
    def opt_in(cls, contacts: models.QuerySet, source: str, reason: str, by=None) -> int:
        """Take the suppressed numbers among ``contacts`` off the suppression list, one OptInRecord
        each; returns how many contacts were re-subscribed.

        The only ways back in are a reply (START) and a staff member giving a reason: an import, an
        edit or deleting the contact never lifts a suppression. Set-based (INSERT ... SELECT, then a
        DELETE and an UPDATE), so "all 40,000 matching" costs the same few statements as one contact.
        """
        batch = uuid.uuid4()
        with transaction.atomic():
            OptInRecord.record_for(contacts, batch=batch, source=source, reason=reason, by=by)
            recorded = OptInRecord.objects.filter(batch=batch)
            lifted = recorded.filter(
                contact__phone=models.OuterRef("number"), previous_opted_out_at=models.OuterRef("suppressed_at")
            )
            Suppression.objects.filter(models.Exists(lifted)).delete()
            # A STOP that landed between the statements wins: its number stays suppressed, and its
            # contact keeps no record.
            recorded.filter(contact__in=cls.objects.suppressed()).delete()
            changed = cls.objects.filter(models.Exists(recorded.filter(contact=models.OuterRef("pk")))).update(
                opted_out_at=None, opt_out_reason="", updated_at=timezone.now()
            )
        return changed


class ContactList(models.Model):
    """A named group of contacts that campaigns send to."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    contacts = models.ManyToManyField(Contact, through="ListMembership", related_name="lists")
    # Kept by database triggers on ListMembership (migration 0003), whatever writes memberships
    # (bulk actions, the importer, the admin inline), so the lists page never counts a million rows.
    member_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def add_contacts(self, contacts: models.QuerySet) -> tuple[int, int]:
        """Put every contact of ``contacts`` in this list; returns (added, already there).

        One INSERT ... SELECT that skips existing memberships, whatever the size of the selection:
        the ids never come into Python.
        """
        chosen = Contact.objects.filter(pk__in=contacts.order_by().values("pk"))
        with transaction.atomic():
            total = chosen.count()
            added = insert_select(
                ListMembership,
                chosen,
                ignore_conflicts=True,
                contact_list=self.pk,
                contact=models.F("pk"),
                added_at=timezone.now(),
            )
        return added, total - added

    def remove_contacts(self, contacts: models.QuerySet) -> int:
        """Take every contact of ``contacts`` out of this list (one DELETE); returns how many were in it."""
        members = ListMembership.objects.filter(contact_list=self, contact__in=contacts.order_by().values("pk"))
        # Nothing cascades from a membership and no signal listens, so Django deletes them in one
        # statement rather than loading them (tests/test_contact_lists.py counts the queries).
        deleted, _ = members.delete()
        return deleted


class ListMembership(models.Model):
    """One contact in one list."""

    # No index of its own: the unique (contact_list, contact) index serves lookups by list, and one
    # index fewer to keep up makes adding a million members to a list noticeably faster.
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "contact"], name="one_membership_per_list"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} in {self.contact_list}"


class OptInRecord(models.Model):
    """Who re-subscribed an opted-out contact, when, why, and what the opt-out had been.

    Written only by Contact.opt_in: a START reply (source "reply") or a staff member's action with a
    reason (source "staff"). It is the audit trail that makes re-subscribing defensible.
    """

    class Source(models.TextChoices):
        REPLY = "reply", "Replied START"
        STAFF = "staff", "Staff member"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="opt_ins")
    opted_in_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=Source.choices)
    reason = models.CharField(max_length=500)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    by_label = models.CharField(
        max_length=150, blank=True, help_text="The staff member's username, kept if the user goes."
    )
    previous_opted_out_at = models.DateTimeField()
    previous_opt_out_reason = models.CharField(max_length=200, blank=True)
    batch = models.UUIDField(db_index=True, editable=False, help_text="One staff action or reply.")

    class Meta:
        ordering = ["-opted_in_at", "-id"]
        verbose_name = "opt-in record"

    def __str__(self) -> str:
        return f"{self.contact} opted back in ({self.get_source_display()})"

    @classmethod
    def record_for(cls, contacts: models.QuerySet, batch: uuid.UUID, source: str, reason: str, by=None) -> int:
        """One record per opted-out contact among ``contacts`` (its number suppressed, or the contact
        showing opted out), by INSERT ... SELECT (no rows loaded); the opt-out it lifts is the
        number's suppression."""
        now = timezone.now()
        suppression = Suppression.objects.filter(number=models.OuterRef("phone"))
        chosen = Contact.objects.filter(pk__in=contacts.order_by().values("pk")).filter(
            models.Q(opted_out_at__isnull=False) | models.Exists(suppression)
        )
        return insert_select(
            cls,
            chosen,
            contact=models.F("pk"),
            opted_in_at=now,
            source=source,
            reason=reason[:500],
            by=by.pk if by is not None else None,
            by_label=by.get_username() if by is not None else "",
            previous_opted_out_at=Coalesce(models.Subquery(suppression.values("suppressed_at")[:1]), "opted_out_at"),
            previous_opt_out_reason=Coalesce(models.Subquery(suppression.values("reason")[:1]), "opt_out_reason"),
            batch=batch,
        )


class Suppression(models.Model):
    """A number we must not message: the source of truth for "may we message this number".

    Kept by number, apart from the contact, so deleting a contact forgets nothing and re-importing
    the number brings it back opted out. Every send path asks it (campaign fan-out, the send-time
    check, the API, staff and test messages). Only a START reply or the audited "Opt back in"
    action (Contact.opt_in, which leaves an OptInRecord) takes a number off it.
    """

    class Source(models.TextChoices):
        REPLY = "reply", "Reply keyword (STOP)"
        IMPORT = "import", "Contact import"
        FILE = "file", "Suppression file"
        STAFF = "staff", "Staff member"
        API = "api", "API"
        PROVIDER = "provider", "Provider error (e.g. Twilio 21610)"
        CONTACT = "contact", "Contact marked opted out"

    number = models.CharField(max_length=16, unique=True, help_text="E.164, e.g. +447700900123")
    suppressed_at = models.DateTimeField(db_index=True, help_text="When the number opted out.")
    reason = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    channel = models.CharField(max_length=200, blank=True, help_text="The channel it came on, if known.")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    by_label = models.CharField(
        max_length=150, blank=True, help_text="The staff member's username, kept if the user goes."
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = "suppressed number"
        verbose_name_plural = "suppressed numbers"

    def __str__(self) -> str:
        return self.number

    @classmethod
    def add(cls, numbers: Iterable[str], *, source: str, reason: str, channel: str = "", by=None, at=None) -> None:
        """Put these E.164 numbers on the list (one already there keeps its first record) and show it
        on their contacts. For a few numbers; a file or a whole selection goes set-based."""
        at = at or timezone.now()
        rows = [
            cls(
                number=number,
                suppressed_at=at,
                reason=reason[:200],
                source=source,
                channel=channel[:200],
                by=by,
                by_label=by.get_username() if by is not None else "",
            )
            for number in sorted(set(numbers))
        ]
        with transaction.atomic():
            cls.objects.bulk_create(rows, ignore_conflicts=True)
            mirror_on_contacts(Contact.objects.filter(phone__in=[row.number for row in rows]))

    @classmethod
    def add_number(cls, number: str, *, source: str, reason: str, channel: str = "", by=None) -> bool:
        """Put one number on the list; True if it was not there. The unique index decides between two
        writers at once (the second waits for the first and finds its row), so exactly one gets True."""
        try:
            with transaction.atomic():
                cls.objects.create(
                    number=number,
                    suppressed_at=timezone.now(),
                    reason=reason[:200],
                    source=source,
                    channel=channel[:200],
                    by=by,
                    by_label=by.get_username() if by is not None else "",
                )
        except IntegrityError:
            return False
        mirror_on_contacts(Contact.objects.filter(phone=number))
        return True

    @classmethod
    def add_contacts(cls, contacts: models.QuerySet, *, source: str, reason: str, by=None) -> int:
        """Suppress the numbers of every contact of ``contacts`` by INSERT ... SELECT; returns how
        many numbers were new on the list."""
        with transaction.atomic():
            added = insert_select(
                cls,
                Contact.objects.filter(pk__in=contacts.order_by().values("pk")),
                ignore_conflicts=True,
                number=models.F("phone"),
                suppressed_at=timezone.now(),
                reason=reason[:200],
                source=source,
                channel="",
                by=by.pk if by is not None else None,
                by_label=by.get_username() if by is not None else "",
            )
            mirror_on_contacts(contacts)
        return added

    @classmethod
    def numbers_among(cls, numbers: Iterable[str]) -> set[str]:
        """Which of these numbers are suppressed (callers pass at most a few thousand at a time, or
        any number on PostgreSQL, where they go as one array parameter: binding 10,000 IN parameters
        cost a bulk request a fifth of its time)."""
        numbers = list(numbers)
        if connection.vendor != "postgresql":
            return set(cls.objects.filter(number__in=numbers).values_list("number", flat=True))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT number FROM {cls._meta.db_table} WHERE number = ANY(%s)", [numbers])  # noqa: S608
            return {number for (number,) in cursor.fetchall()}

    @classmethod
    def refusal(cls, number: str, field: str = "to") -> str:
        """Why a message to ``number`` is refused, naming the number and the rule; "" if it may go."""
        found = cls.objects.filter(number=number).first() if number else None
        if found is None:
            return ""
        return f"{field}: {number} {found.explained()}"

    def explained(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return (
            f"has opted out ({self.suppressed_at:%Y-%m-%d %H:%M} UTC{why}) and is on the suppression list: "
            "nothing is sent to it until it replies START or staff opt it back in with a reason."
        )


def mirror_on_contacts(contacts: models.QuerySet) -> int:
    """Contacts among ``contacts`` whose number is suppressed show it (opted_out_at and the reason)."""
    suppression = Suppression.objects.filter(number=models.OuterRef("phone"))
    return (
        Contact.objects.filter(pk__in=contacts.order_by().values("pk"), opted_out_at__isnull=True)
        .filter(models.Exists(suppression))
        .update(
            opted_out_at=models.Subquery(suppression.values("suppressed_at")[:1]),
            opt_out_reason=models.Subquery(suppression.values("reason")[:1]),
            updated_at=timezone.now(),
        )
    )


# How long a double opt-in join waits for its YES; one still waiting after it never happened.
DOUBLE_OPT_IN_HOURS = 24


class Consent(models.Model):
    """A number's own agreement to join a list, given by texting a keyword such as JOIN: the consent
    record (number, channel, keyword, the message that said it, and when).

    Kept by number like the suppression list, so it outlives the contact and the list. Written by
    the keyword handler (campaigns.conversations.keywords). With double opt-in it waits for an opt-in
    word (YES) within DOUBLE_OPT_IN_HOURS, and only then is the number put on the list.
    """

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for YES"
        JOINED = "joined", "Joined"

    number = models.CharField(max_length=16, help_text="E.164: who texted the keyword.")
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="consents")
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.SET_NULL, null=True, blank=True, related_name="consents", db_index=False
    )
    list_name = models.CharField(max_length=200, help_text="The list's name then, kept if the list goes.")
    channel = models.CharField(max_length=200, help_text="The channel it came on.")
    keyword = models.CharField(max_length=20, help_text="The word texted, e.g. JOIN.")
    message_id = models.PositiveBigIntegerField(help_text="Our id of the reply that said it (an inbound message).")
    provider_message_id = models.CharField(max_length=100, blank=True, help_text="The provider's id of that reply.")
    texted_at = models.DateTimeField(help_text="When the number texted the keyword.")
    double_opt_in = models.BooleanField(default=False)
    state = models.CharField(max_length=8, choices=State.choices)
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When the YES came (double opt-in).")
    confirmed_by_message_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Our id of the reply that confirmed it."
    )

    class Meta:
        ordering = ["-texted_at", "-id"]
        verbose_name = "consent record"
        indexes = [
            models.Index(fields=["number", "texted_at"], name="consent_by_number"),
            models.Index(fields=["-texted_at", "-id"], name="consent_newest"),
            # A YES looks up the number's joins still waiting: a small index, only the waiting rows.
            models.Index(fields=["number", "channel"], condition=models.Q(state="waiting"), name="consent_waiting"),
        ]

    def __str__(self) -> str:
        return f"{self.number} texted {self.keyword} to join {self.list_name}"

    @property
    def outcome(self) -> str:
        if self.state == self.State.WAITING and self.texted_at < timezone.now() - timedelta(hours=DOUBLE_OPT_IN_HOURS):
            return f"Expired (no YES in {DOUBLE_OPT_IN_HOURS} h)"
        return self.get_state_display()


class ContactImport(models.Model):
    """One spreadsheet of contacts being imported: what was uploaded, how it is read, and what became of it.

    Rows are written in chunks, each committed with the counts and ``last_committed_row``, so an
    import that stops partway says exactly which rows went in, and running it again picks up after
    that row (contacts are matched by phone and memberships by list, so nothing is duplicated).
    """

    class State(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded (choose columns)"
        PREVIEWED = "previewed", "Previewed (not imported yet)"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Existing(models.TextChoices):
        UPDATE = "update", "Update their name and fields"
        SKIP = "skip", "Leave them as they are"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=20, default="admin", help_text="admin or command line")
    file_name = models.CharField(max_length=255, help_text="The name of the file as uploaded.")
    stored_path = models.CharField(max_length=500, help_text="Where the file is kept (under VAR_DIR/imports).")
    file_size = models.BigIntegerField(default=0)
    detected = models.JSONField(default=dict, blank=True, help_text="File kind, encoding, delimiter, header.")
    mapping = models.JSONField(default=list, blank=True, help_text="What each column of the file becomes.")
    target_list = models.ForeignKey(
        ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="imports"
    )
    new_list_name = models.CharField(max_length=200, blank=True, help_text="A list to create when the import starts.")
    region = models.CharField(max_length=2, default="US", help_text="Country for numbers without a country code.")
    existing = models.CharField(max_length=10, choices=Existing.choices, default=Existing.UPDATE)
    state = models.CharField(max_length=20, choices=State.choices, default=State.UPLOADED, db_index=True)
    preview = models.JSONField(default=dict, blank=True)
    rows_total = models.IntegerField(null=True, blank=True, help_text="Data rows in the file (counted at upload).")
    rows_read = models.IntegerField(default=0)
    created = models.IntegerField(default=0, help_text="New contacts.")
    updated = models.IntegerField(default=0, help_text="Contacts already known, updated.")
    skipped_existing = models.IntegerField(default=0, help_text="Contacts already known, left as they were.")
    duplicates = models.IntegerField(default=0, help_text="Rows repeating a number seen earlier in the file.")
    invalid = models.IntegerField(default=0)
    last_committed_row = models.IntegerField(
        default=0, help_text="Spreadsheet row number of the last row saved (the header is row 1)."
    )
    error = models.TextField(blank=True)
    rq_job_id = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last chunk saved by the worker.")
    file_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the uploaded file was removed (CONTACT_IMPORT_KEEP_DAYS after upload)."
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = "contact import"

    def __str__(self) -> str:
        return f"Import #{self.pk}: {self.file_name}"

    @property
    def rejected(self) -> int:
        return self.duplicates + self.invalid

    @property
    def rows_done(self) -> int:
        """Data rows dealt with so far (read and committed)."""
        return self.rows_read

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * self.rows_read / self.rows_total))


class ContactImportRejection(models.Model):
    """A row of an import that did not go in, with the reason, for the downloadable report."""

    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="rejections")
    row_number = models.IntegerField(help_text="Spreadsheet row number (the header is row 1).")
    reason = models.TextField()
    values = models.JSONField(default=list, help_text="The row's cells as read.")

    class Meta:
        ordering = ["contact_import", "row_number"]
        constraints = [
            models.UniqueConstraint(fields=["contact_import", "row_number"], name="one_rejection_per_import_row"),
        ]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"
