"""List messages with an unknown outcome (or stuck in sending) by campaign, and settle them.

    python manage.py unknown_messages                                    the groups
    python manage.py unknown_messages --campaign 12 --check              what the provider says (first 20)
    python manage.py unknown_messages --campaign 12 --resolve sent
    python manage.py unknown_messages --campaign none --resolve failed --reason "Twilio has no record"
    python manage.py unknown_messages --campaign 12 --resolve resend --yes

--campaign takes an id, or "none" for single and API messages; --older-than MINUTES keeps those
in doubt at least that long. Resending asks for confirmation that duplicates are possible (--yes
gives it). Each decision is recorded on the messages with --by (default: the system user).
"""

from __future__ import annotations

import getpass
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from campaigns.models.staff import zone_label
from campaigns.pipeline import unknown_outcomes as doubt

CHECKED_AT_MOST = 20


def campaign_choice(value: str) -> int | None:
    if value == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"--campaign: {value!r} is not a campaign id or 'none'.") from None


class Command(BaseCommand):
    help = "List messages whose outcome is unknown (or stuck in sending) by campaign, and settle them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", help="a campaign id, or 'none' for single and API messages")
        parser.add_argument("--channel", type=int, help="a channel id")
        parser.add_argument("--older-than", type=int, metavar="MINUTES", help="in doubt for at least this long")
        parser.add_argument("--check", action="store_true", help=f"ask the provider about up to {CHECKED_AT_MOST}")
        parser.add_argument("--resolve", choices=doubt.DECISIONS, help="mark sent, mark failed, or resend")
        parser.add_argument("--reason", default="", help="why they are marked failed (required with failed)")
        parser.add_argument("--yes", action="store_true", help="do it without asking (resend: duplicates possible)")
        parser.add_argument("--by", default="", help="who decides (recorded on the messages)")

    def handle(self, *args, **options) -> None:
        campaign = "any" if options["campaign"] is None else campaign_choice(options["campaign"])
        minutes = options["older_than"]
        if minutes is not None and minutes < 0:
            raise CommandError(f"--older-than: {minutes} is not a number of minutes (0 or more).")
        older_than = timedelta(minutes=minutes) if minutes is not None else None
        messages = doubt.in_doubt(campaign, options["channel"], older_than)
        self.list_groups(messages)
        if options["check"]:
            self.check(messages)
        if options["resolve"]:
            self.resolve(messages, options)

    def list_groups(self, messages) -> None:
        groups = doubt.groups(messages)
        if not groups:
            self.stdout.write("No message is in doubt.")
            return
        self.stdout.write(f"Messages in doubt (times in {zone_label()}):")
        self.stdout.write(f"{'campaign':<34} {'channel':<24} {'unknown':>8} {'stuck':>6}  oldest since")
        for group in groups:
            name = f"{group.campaign.pk} {group.campaign.name}" if group.campaign else "none (single and API)"
            oldest = timezone.localtime(group.oldest).strftime("%Y-%m-%d %H:%M:%S")
            self.stdout.write(
                f"{name[:34]:<34} {group.channel.name[:24]:<24} {group.unknown:>8} {group.stuck:>6}  {oldest}"
            )

    def check(self, messages) -> None:
        for message in messages.select_related("channel", "contact", "campaign").order_by("updated_at", "id")[
            :CHECKED_AT_MOST
        ]:
            said = doubt.check_with_provider(message)
            verdict = {True: "has it", False: "does not have it", None: "cannot tell"}[said.found]
            self.stdout.write(f"#{message.pk} to {message.to}: the provider {verdict}. {said.detail}")

    def resolve(self, messages, options: dict) -> None:
        decision, reason = options["resolve"], options["reason"].strip()
        if decision == doubt.FAILED and not reason:
            raise CommandError("--reason: say why these messages are marked failed (it is kept on each one).")
        ids = list(messages.values_list("id", flat=True))
        if not ids:
            return
        question = f"{len(ids)} message(s) will be {'resent' if decision == doubt.RESEND else 'marked ' + decision}."
        if decision == doubt.RESEND:
            question += f" {doubt.DUPLICATE_WARNING}"
        if not options["yes"]:
            self.confirm(question)
        by = options["by"] or f"{getpass.getuser()} (command line)"
        resolved = doubt.decide(decision, ids, by, reason=reason, duplicates_accepted=True)
        self.stdout.write(self.style.SUCCESS(f"{resolved.changed} message(s) settled: {decision}, by {by}."))
        if resolved.skipped:
            self.stdout.write(f"{resolved.skipped} were no longer in doubt and were left as they were.")

    def confirm(self, question: str) -> None:
        self.stdout.write(question)
        try:
            answer = input("Type yes to go on: ")
        except EOFError:
            answer = ""
        if answer.strip().lower() != "yes":
            raise CommandError("Nothing was changed (answer yes, or give --yes).")
