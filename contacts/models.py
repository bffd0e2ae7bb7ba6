from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from contacts.phones import normalise_phone
from contacts.sets import insert_select


class ContactQuerySet(models.QuerySet):
    def reachable(self) -> ContactQuerySet:
        """Contacts who have not opted out."""
        return self.filter(opted_out_at__isnull=True)


class Contact(models.Model):
    """A person we can message, identified by one E.164 phone number."""

    phone = models.CharField(max_length=16, unique=True, help_text="E.164, e.g. +447700900123")
    name = models.CharField(max_length=200, blank=True)
    extra_fields = models.JSONField(default=dict, blank=True, help_text="Values for template placeholders.")
    opted_out_at = models.DateTimeField(null=True, blank=True, db_index=True)
    opt_out_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        # The phone search is a prefix search served by the unique index (and, on PostgreSQL, the
        # varchar_pattern_ops twin Django adds to it); the name search on PostgreSQL is served by a
        # trigram index that migration 0002 creates where pg_trgm is available.

    def __str__(self) -> str:
        return f"{self.name} {self.phone}".strip()

    def clean(self) -> None:
        try:
            self.phone = normalise_phone(self.phone)
        except ValidationError as error:
            raise ValidationError({"phone": error.messages}) from None

    @property
    def is_opted_out(self) -> bool:
        return self.opted_out_at is not None

    @classmethod
    def opt_out_phone(cls, phone: str, reason: str) -> None:
        """Record that this number asked to stop; creates the contact if we never saw it."""
        contact, _ = cls.objects.get_or_create(phone=phone)
        if contact.opted_out_at is None:
            cls.objects.filter(pk=contact.pk).update(opted_out_at=timezone.now(), opt_out_reason=reason[:200])

    @classmethod
    def opt_in_phone(cls, phone: str, reason: str = "Replied with an opt-in word (START)") -> None:
        """The contact replied START (or the like): re-subscribe them and keep a record of it."""
        cls.opt_in(cls.objects.filter(phone=phone), source=OptInRecord.Source.REPLY, reason=reason)

    @classmethod
    def opt_in(cls, contacts: models.QuerySet, source: str, reason: str, by=None) -> int:
        """Re-subscribe the opted-out contacts among ``contacts``, one OptInRecord each; returns how many.

        The only ways back in are a reply (START) and a staff member giving a reason: an import or an
        edit never clears opted_out_at. Set-based (INSERT ... SELECT, then one UPDATE), so "all
        40,000 matching" costs the same few statements as one contact.
        """
        batch = uuid.uuid4()
        with transaction.atomic():
            OptInRecord.record_for(contacts, batch=batch, source=source, reason=reason, by=by)
            recorded = OptInRecord.objects.filter(
                batch=batch, contact=models.OuterRef("pk"), previous_opted_out_at=models.OuterRef("opted_out_at")
            )
            changed = cls.objects.filter(models.Exists(recorded)).update(
                opted_out_at=None, opt_out_reason="", updated_at=timezone.now()
            )
            # A STOP that landed between the two statements wins: its contact keeps no record.
            OptInRecord.objects.filter(batch=batch, contact__opted_out_at__isnull=False).delete()
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
        """One record per opted-out contact among ``contacts``, by INSERT ... SELECT (no rows loaded)."""
        now = timezone.now()
        chosen = Contact.objects.filter(pk__in=contacts.order_by().values("pk"), opted_out_at__isnull=False)
        return insert_select(
            cls,
            chosen,
            contact=models.F("pk"),
            opted_in_at=now,
            source=source,
            reason=reason[:500],
            by=by.pk if by is not None else None,
            by_label=by.get_username() if by is not None else "",
            previous_opted_out_at=models.F("opted_out_at"),
            previous_opt_out_reason=models.F("opt_out_reason"),
            batch=batch,
        )


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
