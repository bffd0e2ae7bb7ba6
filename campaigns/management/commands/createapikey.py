"""`manage.py createapikey <username>`: print a new API key for that staff user, once."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from campaigns.models import ApiKey


class Command(BaseCommand):
    help = (
        "Create an API key that acts as the given staff user and print it (only the key, only this once). "
        "Its scope (channels, contact saving, lists, expiry, quota) is set on the key's admin page; "
        "a new key may not save contacts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What will use the key, e.g. 'shop'.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"username: {username!r} is not a user.")
        if not user.is_active:
            raise CommandError(f"username: {username!r} is deactivated; a key for it would not work.")
        if not user.is_staff:
            raise CommandError(f"username: {username!r} is not staff; only staff users own API keys.")
        _, raw = ApiKey.issue(user, name=name[:100])
        self.stdout.write(raw)
