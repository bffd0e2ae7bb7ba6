"""Keys that let other systems call the API as a user; only their hashes are stored."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A secret that lets another system call the API as one user. Only its hash is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True, help_text="What uses this key, e.g. 'shop'.")
    prefix = models.CharField(max_length=12, editable=False, help_text="The first characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

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
    def issue(cls, user, name: str = "") -> tuple[ApiKey, str]:
        """Create a key for the user; the raw key is returned once and never stored."""
        raw = "mk_" + secrets.token_urlsafe(32)
        key = cls.objects.create(user=user, name=name, prefix=raw[:10], key_hash=cls.hash(raw))
        return key, raw
