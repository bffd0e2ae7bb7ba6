"""The first answer to each request sent with an Idempotency-Key, kept a day so a retry gets it again."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone

# How long a key is remembered; after this a request with the same key is a new request.
KEPT_FOR = timedelta(hours=24)


class IdempotentRequest(models.Model):
    """One API key's request with an Idempotency-Key header, and the answer it got.

    The row is inserted in the same transaction as the request's effects (the message, the bulk
    job, the change) and its answer: it exists exactly when they do. The unique constraint, not a
    look-up first, is what makes two concurrent requests with one key create one message.
    """

    api_key = models.ForeignKey("campaigns.ApiKey", on_delete=models.CASCADE, related_name="idempotent_requests")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path and the body's bytes: "the same request" means all three.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "idempotency key"  # as the API key's delete page counts them
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_once_per_api_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.api_key_id})"

    def is_expired(self, now=None) -> bool:
        return self.created_at <= (now or timezone.now()) - KEPT_FOR

    @classmethod
    def remove_expired(cls) -> int:
        """Forget keys older than a day: one DELETE (nothing refers to these rows)."""
        deleted, _ = cls.objects.filter(created_at__lte=timezone.now() - KEPT_FOR).delete()
        return deleted
