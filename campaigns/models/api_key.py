"""Keys that let other systems call the API as a staff user; only their hashes are stored.

A key carries its scope: the channels it may send on, whether and how it may save contacts and
into which lists, whether it may name other team members as senders (only an administrator's
key), when it expires, and how many recipients it may send to a day.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


class ContactSaving(models.TextChoices):
    """What ``contact_saving`` in a POST /message may do with this key."""

    OFF = "off", "No: a request with contact_saving.save is refused"
    NEW_ONLY = "new", "Add new contacts only; existing contacts are left as they are"
    UPDATE = "update", "Add new contacts and update existing contacts' names and extra fields"


class ApiKey(models.Model):
    """A secret that lets another system call the API as one staff user. Only its hash is stored."""

    ContactSaving = ContactSaving

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name="owner",
        limit_choices_to={"is_staff": True, "is_active": True},
        help_text="Only active staff users own keys. A key stops working when its owner loses staff status "
        "or is deactivated.",
    )
    name = models.CharField(max_length=100, blank=True, help_text="What uses this key, e.g. 'shop'.")
    prefix = models.CharField(max_length=12, editable=False, help_text="The first characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        "expires at",
        null=True,
        blank=True,
        help_text="After this time the key answers 401 like an unknown key. Empty: it does not expire.",
    )
    every_channel = models.BooleanField(
        "may send on every channel",
        default=True,
        help_text="Untick to limit the key to the channels chosen below (and to their messages and jobs).",
    )
    channels = models.ManyToManyField(
        "providers.Channel",
        blank=True,
        related_name="api_keys",
        verbose_name="only these channels",
        help_text="The channels a limited key may send on. A limited key whose channels were all deleted "
        "sends on none: deleting a channel never widens a key.",
    )
    contact_saving = models.CharField(
        "contact saving",
        max_length=8,
        choices=ContactSaving.choices,
        default=ContactSaving.OFF,
        help_text="What contact_saving in POST /message may do. Adding new contacts only is the safe choice: "
        "a caller cannot rename a contact staff keep or overwrite its extra fields.",
    )
    contact_lists = models.ManyToManyField(
        "contacts.ContactList",
        blank=True,
        related_name="api_keys",
        verbose_name="lists it may add contacts to",
        help_text="contact_saving.list_id may name only these lists (campaigns send to lists: choose with care). "
        "None chosen: no list.",
    )
    daily_recipient_quota = models.PositiveIntegerField(
        "daily recipient quota",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Recipients this key may send to per UTC day (POST /message counts 1, a bulk job its "
        "recipients). Empty: the API_DAILY_RECIPIENT_QUOTA setting.",
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash(raw_key: str) -> str:
        # Keys are 32 random bytes, so a fast hash is enough: there is nothing to brute-force.
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name: str = "", **scope) -> tuple[ApiKey, str]:
        """Create a key for a staff user; the raw key is returned once and never stored.

        ``scope`` takes the key's plain fields (contact_saving, expires_at, daily_recipient_quota);
        set its channels and lists on the key afterwards.
        """
        key = cls(user=user, name=name, **scope)
        key.check_owner()
        raw = key.set_new_secret()
        key.save()
        return key, raw

    def check_owner(self) -> None:
        if not (self.user.is_staff and self.user.is_active):
            raise ValueError(f"user: {self.user.get_username()!r} is not active staff; only staff users own API keys.")

    def set_new_secret(self) -> str:
        """A new raw key for this row: its prefix and hash are kept, the key itself is returned once."""
        raw = "mk_" + secrets.token_urlsafe(32)
        self.prefix, self.key_hash = raw[:10], self.hash(raw)
        return raw

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def why_not_working(self, now=None) -> str:
        """Why the API refuses this key, in staff's words; empty when it works."""
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired(now):
            return "expired"
        if not self.user.is_active:
            return "owner deactivated"
        if not self.user.is_staff:
            return "owner is not staff"
        return ""

    @property
    def may_name_any_member(self) -> bool:
        """Only an administrator's key may send as another team member (user_id)."""
        return self.user.is_superuser

    @property
    def recipient_quota(self) -> int:
        """Recipients a UTC day; 0 means no quota."""
        if self.daily_recipient_quota:
            return self.daily_recipient_quota
        return settings.API_DAILY_RECIPIENT_QUOTA
