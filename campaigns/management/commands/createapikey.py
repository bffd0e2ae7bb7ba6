"""`manage.py createapikey <username>`: print a new API key for that user, once."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from campaigns.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key that acts as the given user and print it (only the key, only this once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What will use the key, e.g. 'shop'.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"username: {username!r} is not a user.")
        if not user.is_active:
            raise CommandError(f"username: {username!r} is deactivated; a key for it would not work.")
        _, raw = ApiKey.issue(user, name=name[:100])
        self.stdout.write(raw)
