"""kill -9 of the worker fanning a campaign out; the reconciler and a new worker finish it.

A list campaign's audience (two overlapping lists less an exclusion list, some contacts opted out)
is spread thinly over tens of thousands of contact ids, and CAMPAIGN_AUDIENCE_SLICE is small, so
the fan-out takes thousands of committed steps. Once some of its rows are in, and before it is
done, the `rqworker` and its work horse are killed with SIGKILL and another worker is started;
this process runs the reconciler every second, as the scheduler does (start_due_campaigns starts
the lost fan-out again). Sends go to the strict loopback endpoint (bench/endpoint.py), which
counts every message id it accepts.

    python -m bench.fanout_kill --contacts 20000 --json

Run by tests/test_faults.py (a database the workers can share: DATABASE_URL, or a SQLite file).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from collections import Counter

from bench.chaos import WORKER_SETTINGS, Workers, twilio_channel
from bench.harness import prepare_django

SLICE = 20  # contact ids per committed step of the fan-out (CAMPAIGN_AUDIENCE_SLICE)
RATE = 500.0


def audience_of(index: int) -> tuple[bool, bool, bool, bool]:
    """Contact number ``index``: (in list A, in list B, excluded, opted out)."""
    return index % 10 == 0, index % 15 == 0, index % 70 == 0, index % 45 == 0


def build(contacts: int, endpoint_url: str) -> tuple[object, str, dict[str, bool]]:
    """The campaign, the contacts' number prefix, and its audience: number -> opted out."""
    from django.utils import timezone

    from campaigns.models import Campaign
    from contacts.models import Contact, ContactList, ListMembership, Suppression

    tag = secrets.token_hex(3)
    prefix = f"+1{secrets.randbelow(800) + 200}"
    channel = twilio_channel(f"Fan-out {tag}", endpoint_url, RATE)
    lists = [ContactList.objects.create(name=f"Fan-out {tag} {name}") for name in ("A", "B", "not these")]
    audience: dict[str, bool] = {}
    now = timezone.now()
    for start in range(0, contacts, 5000):
        batch = range(start, min(contacts, start + 5000))
        made = Contact.objects.bulk_create(
            Contact(phone=f"{prefix}{n:07d}", name=f"Contact {n}", opted_out_at=now if audience_of(n)[3] else None)
            for n in batch
        )
        memberships = []
        for n, contact in zip(batch, made, strict=True):
            in_a, in_b, excluded, opted_out = audience_of(n)
            for contact_list, member in zip(lists, (in_a, in_b, excluded), strict=True):
                if member:
                    memberships.append(ListMembership(contact_list=contact_list, contact=contact))
            if (in_a or in_b) and not excluded:
                audience[contact.phone] = opted_out
        ListMembership.objects.bulk_create(memberships)
        # bulk_create skips Contact.save: the opted-out numbers go on the suppression list here,
        # as every real writer of opted_out_at does (it is the mirror; the list is the truth).
        Suppression.objects.bulk_create(
            Suppression(number=contact.phone, suppressed_at=now, reason="Replied STOP", source="reply")
            for contact in made
            if contact.opted_out_at
        )
    campaign = Campaign.objects.create(name=f"Fan-out {tag}", channel=channel, text="Hi {{ name }}")
    campaign.lists.set(lists[:2])
    campaign.exclude_lists.set(lists[2:])
    return campaign, prefix, audience


def run_scenario(contacts: int) -> dict:
    prepare_django()
    settings_for_workers = {**WORKER_SETTINGS, "CAMPAIGN_AUDIENCE_SLICE": str(SLICE)}
    os.environ.update(settings_for_workers)
    from django.conf import settings
    from django.db import connection

    for name, value in settings_for_workers.items():
        setattr(settings, name, int(value))
    import django_rq

    from bench.dispatch import EndpointProcess
    from campaigns.models import Campaign
    from contacts.models import Contact, ContactList

    endpoint = EndpointProcess(0.0, extra=["--strict"])
    campaign, prefix, audience = build(contacts, endpoint.url)
    workers = Workers()
    result: dict = {"database": connection.vendor, "contacts": contacts, "audience": len(audience), "slice": SLICE}
    try:
        killed_at = kill_part_way(campaign, workers, len(audience), result)
        workers.start()
        until_completed(campaign, killed_at, result)
        result |= outcome(campaign, audience, endpoint.report())
    finally:
        workers.stop_all()
        endpoint.stop()
        django_rq.get_connection("default").flushdb()
        lists = list(campaign.lists.all()) + list(campaign.exclude_lists.all())
        campaign.messages.all().delete()
        Campaign.objects.filter(pk=campaign.pk).delete()
        campaign.channel.delete()
        Contact.objects.filter(phone__startswith=prefix).delete()
        ContactList.objects.filter(pk__in=[item.pk for item in lists]).delete()
    return result


def kill_part_way(campaign, workers: Workers, audience: int, result: dict) -> float:
    """Launch with one worker; kill -9 it once a fifth of the audience's rows are in. Returns when."""
    from campaigns.models import Campaign

    first = workers.start()
    campaign.launch()
    fanned_out = Campaign.objects.filter(pk=campaign.pk, fanned_out_at__isnull=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and campaign.messages.count() < audience // 5 and not fanned_out.exists():
        time.sleep(0.01)
    workers.kill(first)
    result["rows_at_kill"] = campaign.messages.count()
    result["fanned_out_at_kill"] = fanned_out.exists()
    return time.monotonic()


def until_completed(campaign, killed_at: float, result: dict) -> None:
    """Run the reconciler every second, as the scheduler does, until the campaign completes."""
    from campaigns.models import Campaign
    from campaigns.pipeline.jobs import reconcile

    while time.monotonic() < killed_at + 180:
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.COMPLETED:
            break
        if campaign.fanned_out_at and "fanned_out_after_kill" not in result:
            result["fanned_out_after_kill"] = round(time.monotonic() - killed_at, 1)
        steps = reconcile()
        if any(steps.values()):
            result.setdefault("reconciled", []).append((round(time.monotonic() - killed_at, 1), steps))
        time.sleep(1)
    result["seconds_after_kill"] = round(time.monotonic() - killed_at, 1)


def outcome(campaign, audience: dict[str, bool], report: dict) -> dict:
    """How every row ended against the audience, and what the provider accepted."""
    rows = campaign.messages
    numbers = Counter(rows.values_list("to", flat=True))
    sent_ids = set(rows.filter(status="sent").values_list("id", flat=True))
    accepted_ids = set(report["accepted_ids"])
    cancelled = set(rows.filter(status="cancelled", error_code="opted_out").values_list("to", flat=True))
    return {
        "campaign": campaign.status,
        "recipient_count": campaign.recipient_count,
        "rows": sum(numbers.values()),
        "numbers_repeated": sum(1 for count in numbers.values() if count > 1),
        "numbers_missing": len(set(audience) - set(numbers)),
        "numbers_not_in_audience": len(set(numbers) - set(audience)),
        "statuses": dict(Counter(rows.values_list("status", flat=True))),
        "opted_out": sum(audience.values()),
        "cancelled_not_opted_out": len(cancelled - {phone for phone, out in audience.items() if out}),
        "accepted": report["accepted"],
        "duplicates": len(report["duplicates"]),
        "accepted_not_sent": len(accepted_ids - sent_ids),
        "sent_not_accepted": len(sent_ids - accepted_ids),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_scenario(args.contacts)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
