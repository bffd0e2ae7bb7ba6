"""Re-encrypt every channel's credentials (and webhook token) under the newest key of CREDENTIALS_KEY.

Rotation: put the new key first (``CREDENTIALS_KEY=new,old``), restart, run this, then drop the
old key. Each channel is rewritten under a row lock, so a credential an administrator saves
meanwhile is not overwritten with the old one.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from providers import credentials
from providers.models import Channel

SECRET_FIELDS = ("credentials", "webhook_token")  # the channel's encrypted columns


class Command(BaseCommand):
    help = "Re-encrypt every channel's credentials under the newest (first) key of CREDENTIALS_KEY."

    def handle(self, *args, **options) -> None:
        rotated, unreadable = 0, []
        for pk in Channel.objects.order_by("pk").values_list("pk", flat=True):
            with transaction.atomic():
                row = (
                    Channel.objects.select_for_update()
                    .annotate(**{f"raw_{name}": Cast(name, TextField()) for name in SECRET_FIELDS})
                    .values("name", *(f"raw_{name}" for name in SECRET_FIELDS))
                    .filter(pk=pk)
                    .first()
                )
                if row is None:  # deleted meanwhile
                    continue
                try:
                    tokens = {name: credentials.rotate(row[f"raw_{name}"]) for name in SECRET_FIELDS}
                except credentials.CredentialsUnreadable:
                    unreadable.append(row["name"])
                    continue
                Channel.objects.filter(pk=pk).update(
                    **{name: Value(token, output_field=TextField()) for name, token in tokens.items()}
                )
                rotated += 1
        self.stdout.write(f"Re-encrypted the credentials of {rotated} channel(s) under the newest key.")
        if unreadable:
            raise CommandError(
                f"No key in CREDENTIALS_KEY decrypts the credentials of {', '.join(map(repr, unreadable))}: "
                "add the key they were stored with (after the newest) and run this again."
            )
        self.stdout.write("Every channel is now readable with the newest key alone: the older keys can go.")
