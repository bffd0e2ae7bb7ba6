from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from contacts.phones import normalise_phone


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
    def opt_in_phone(cls, phone: str) -> None:
        cls.objects.filter(phone=phone).update(opted_out_at=None, opt_out_reason="")


class ContactList(models.Model):
    """A named group of contacts that campaigns send to."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    contacts = models.ManyToManyField(Contact, through="ListMembership", related_name="lists")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ListMembership(models.Model):
    """One contact in one list."""

    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "contact"], name="one_membership_per_list"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} in {self.contact_list}"
