"""First-run set-up for `make run`: a staff superuser with a generated password, and demo channels.

The demo channels point at the local fake providers that `make run` starts, so a newcomer sees
Twilio-, Gupshup- and sendbulk-shaped traffic and delivery receipts without any account. The
command writes the fakes' command lines to a file for the launcher (messaging_site/services.py).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from providers.models import Channel

DEMO_TWILIO = {"account_sid": "AC" + "0" * 31 + "1", "auth_token": "demo-auth-token"}
DEMO_GUPSHUP = {"apikey": "demo-gupshup-key", "app_name": "demo-app"}
DEMO_SENDBULK = {"partner_id": "1234", "apikey": "demo-sendbulk-key"}
DEMO_REPLY_RATE = 0.05  # share of the fakes' recipients who reply: enough to fill the inbox on a small campaign
DEMO_CLICK_RATE = 0.2  # share of the fakes' recipients who tap their short links: a funnel with clicks
DEMO_NOT_ON_WHATSAPP_ENDING = "7"  # one WhatsApp recipient in ten is "not on WhatsApp" in the demo


class Command(BaseCommand):
    help = "Create the first superuser (password printed once) and the demo channels, if missing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", default="8000")
        parser.add_argument("--fakes-port", type=int, default=8101, help="first of three ports for the fakes")
        parser.add_argument("--fakes-file", default="", help="where to write the fakes' command lines")
        parser.add_argument(
            "--reply-rate",
            type=float,
            default=None,
            help=f"share of recipients who reply (0 for none; default DEMO_REPLY_RATE or {DEMO_REPLY_RATE})",
        )

    def handle(self, *args, port: str, fakes_port: int, fakes_file: str, reply_rate, **options) -> None:
        self.create_superuser(port)
        fakes = self.create_demo_channels(fakes_port, demo_reply_rate(reply_rate))
        if fakes_file:
            Path(fakes_file).write_text(json.dumps(fakes, indent=2))

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

    def channel(self, name: str, **fields) -> Channel:
        channel, created = Channel.objects.get_or_create(name=name, defaults=fields)
        if created:
            self.stdout.write(f"Created the demo channel {name!r}.")
        return channel

    def create_demo_channels(self, fakes_port: int, reply_rate: float = DEMO_REPLY_RATE) -> list[dict]:
        """The demo channels and the fakes they talk to: [{"module": ..., "args": [...]}, ...]."""
        self.channel("Demo sandbox", provider="sandbox", sender="+15005550006", rate_limit=50)
        twilio_url = f"http://127.0.0.1:{fakes_port}"
        gupshup_url = f"http://127.0.0.1:{fakes_port + 1}"
        sendbulk_url = f"http://127.0.0.1:{fakes_port + 2}"
        twilio = {"credentials": DEMO_TWILIO, "api_base_url": twilio_url, "rate_limit": 10}
        twilio_sms = self.channel("Demo Twilio SMS (fake)", provider="twlo", sender="+15005550006", **twilio)
        twilio_wa = self.channel("Demo Twilio WhatsApp (fake)", provider="twlowa", sender="+14155238886", **twilio)
        replies = ("--reply-rate", str(reply_rate), "--click-rate", str(demo_click_rate()))
        # WhatsApp says numbers ending in 7 are not on it: a WhatsApp campaign with an SMS fallback
        # (say through "Demo Twilio SMS (fake)") shows them getting the SMS instead.
        not_on_whatsapp = ("--not-on-whatsapp-ending", DEMO_NOT_ON_WHATSAPP_ENDING)
        gupshup = self.channel(
            "Demo Gupshup WhatsApp (fake)",
            provider="gswa",
            sender="917834811114",
            credentials=DEMO_GUPSHUP,
            api_base_url=gupshup_url,
            rate_limit=10,
        )
        self.channel(
            "Demo sendbulk SMS (fake)",
            provider="sendbulk",
            sender="DEMO",
            credentials=DEMO_SENDBULK,
            api_base_url=f"{sendbulk_url}/api/services",
            rate_limit=20,
        )
        return [
            {
                "module": "providers.twilio.fake",
                "args": [
                    *("--port", str(fakes_port)),
                    *("--account-sid", DEMO_TWILIO["account_sid"], "--auth-token", DEMO_TWILIO["auth_token"]),
                    *(arg for c in (twilio_sms, twilio_wa) for arg in ("--inbound-url", inbound_url_of(c))),
                    *replies,
                    *not_on_whatsapp,
                ],
            },
            {
                "module": "providers.gupshup.fake",
                "args": [
                    *("--port", str(fakes_port + 1)),
                    *("--apikey", DEMO_GUPSHUP["apikey"], "--app-name", DEMO_GUPSHUP["app_name"]),
                    *("--callback-url", gupshup.webhook_url("events")),
                    *replies,
                    *not_on_whatsapp,
                ],
            },
            {
                "module": "providers.sendbulk.fake",
                "args": [
                    *("--port", str(fakes_port + 2)),
                    *("--partner-id", DEMO_SENDBULK["partner_id"], "--apikey", DEMO_SENDBULK["apikey"]),
                ],
            },
        ]


def demo_reply_rate(given: float | None) -> float:
    """--reply-rate, else the DEMO_REPLY_RATE environment variable, else 5%: a share between 0 and 1."""
    return demo_share("DEMO_REPLY_RATE", given, DEMO_REPLY_RATE)


def demo_click_rate() -> float:
    """The DEMO_CLICK_RATE environment variable, else 20%: the share who tap the short links they got."""
    return demo_share("DEMO_CLICK_RATE", None, DEMO_CLICK_RATE)


def demo_share(variable: str, given: float | None, default: float) -> float:
    raw = given if given is not None else os.environ.get(variable, default)
    try:
        rate = float(raw)
    except ValueError:
        raise CommandError(f"{variable}: {raw!r} is not a number (a share such as 0.05).") from None
    if not 0 <= rate <= 1:
        raise CommandError(f"{variable}: {rate} is not a share between 0 and 1.")
    return rate


def inbound_url_of(channel: Channel) -> str:
    """NUMBER=URL for the Twilio fake: replies to this channel's number go to its inbound webhook."""
    return f"{channel.sender}={channel.webhook_url('inbound')}"
