"""First-run set-up for `make run`: a staff superuser with a generated password, a demo channel."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from providers.models import Channel


class Command(BaseCommand):
    help = "Create the first superuser (password printed once) and a sandbox channel, if missing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", default="8000")

    def handle(self, *args, port: str, **options) -> None:
        self.create_superuser(port)
        self.create_demo_channels()

    def create_superuser(self, port: str) -> None:
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", "admin@example.com", password)
        banner = "=" * 64
        self.stdout.write(
            f"{banner}\nCreated the staff user 'admin' with password: {password}\n"
            f"It is shown only this once. Log in at http://127.0.0.1:{port}/admin/\n"
            f"(forgot it? python manage.py changepassword admin)\n{banner}"
        )

    def create_demo_channels(self) -> None:
        if not Channel.objects.exists():
            Channel.objects.create(name="Demo sandbox", provider="sandbox", sender="+15005550006", rate_limit=50)
            self.stdout.write("Created the channel 'Demo sandbox' (sends nothing outside this machine).")
