"""Faults during a campaign, with real worker processes and a strict provider that counts every message.

A Twilio channel points at bench/endpoint.py in strict mode: it reads our message id from every
request, counts how many times each was accepted, can answer a share of requests 500 or 429 with
Retry-After, and records acceptance times to check the channel's rate over every sliding second.
`rqworker high default --with-scheduler` processes (each in its own process group, so kill -9
takes its work horse too) send a list campaign; this process plays the scheduler's part and runs
the reconciler every two seconds. Scenarios:

- ``kill``: kill -9 one of two workers a third of the way in, start another; the campaign must
  complete within a minute or two of the kill, nothing accepted twice, and only the batches
  handed to the provider may be ``unknown``;
- ``redis``: Redis flushed mid-campaign: it completes, nothing lost, nothing sent twice;
- ``errors``: 10% of requests answered 500 and 5% 429 (Retry-After 1), with a Redis flush
  mid-way: every message ends sent, and the rate is never exceeded in any sliding second;
- ``pause``: paused and resumed ten times: no duplicate, no gap;
- ``rate``: a channel limited to N msg/s sends at >= 0.9 N.

    python -m bench.chaos --scenario kill --recipients 300 --json     one scenario, one JSON line
    python -m bench chaos                                             all, 100,000 recipients (BENCH_CHAOS)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter

from bench.harness import BASE_DIR, prepare_django

RECIPIENTS = int(os.environ.get("BENCH_CHAOS", "100000"))
SCENARIOS = ("kill", "redis", "errors", "pause", "rate")
# Quicker than production so a small run finishes in seconds; the lease stays at its minimum.
WORKER_SETTINGS = {
    "SENDING_STALE_SECONDS": "60",
    "QUEUED_STALE_SECONDS": "5",
    "SEND_RETRY_BASE_SECONDS": "1",
    "SEND_JOB_BUDGET_SECONDS": "30",
}


class Workers:
    """`rqworker` processes, each the leader of its own process group."""

    def __init__(self, settings: dict[str, str] | None = None):
        self.processes: list[subprocess.Popen] = []
        self.settings = WORKER_SETTINGS if settings is None else settings

    def start(self) -> subprocess.Popen:
        env = {**os.environ, "LOG_LEVEL": "WARNING", **self.settings}
        command = [sys.executable, "manage.py", "rqworker", "high", "default", "--with-scheduler", "-v", "0"]
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )  # fmt: skip
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """kill -9 the worker and its work horse (RQ puts the horse in a session of its own), as a
        crash of the machine would."""
        for child in children_of(process.pid):
            os.kill(child, signal.SIGKILL)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # a warm shutdown: RQ waits for its horse
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def twilio_channel(name: str, endpoint_url: str, rate: float):
    """A Twilio SMS channel whose API is the loopback endpoint at ``endpoint_url``."""
    from providers.models import Channel

    return Channel.objects.create(
        name=name,
        provider="twlo",
        sender="+14155550100",
        credentials={"account_sid": "AC" + "0" * 32, "auth_token": secrets.token_hex(16)},
        rate_limit=rate,
        api_base_url=endpoint_url,
    )


def build_campaign(recipients: int, endpoint_url: str, rate: float):
    from campaigns.models import Campaign
    from contacts.models import Contact, ContactList, ListMembership

    tag = secrets.token_hex(3)
    prefix = f"+1{secrets.randbelow(800) + 200}"
    channel = twilio_channel(f"Chaos {tag}", endpoint_url, rate)
    contact_list = ContactList.objects.create(name=f"Chaos {tag}")
    for start in range(0, recipients, 5000):
        contacts = Contact.objects.bulk_create(
            Contact(phone=f"{prefix}{n:07d}", name=f"Contact {n}") for n in range(start, min(recipients, start + 5000))
        )
        ListMembership.objects.bulk_create(ListMembership(contact_list=contact_list, contact=c) for c in contacts)
    campaign = Campaign.objects.create(name=f"Chaos {tag}", channel=channel, text="Hi {{ name }}")
    campaign.lists.set([contact_list])
    return campaign, prefix


def forget(campaign, prefix: str) -> None:
    from campaigns.models import Campaign, OutboundMessage
    from contacts.models import Contact, ContactList

    channel = campaign.channel
    lists = list(campaign.lists.all())
    OutboundMessage.objects.filter(channel=channel).delete()
    Campaign.objects.filter(channel=channel).delete()
    channel.delete()
    Contact.objects.filter(phone__startswith=prefix).delete()
    ContactList.objects.filter(pk__in=[item.pk for item in lists]).delete()


def run_scenario(scenario: str, recipients: int, workers_count: int = 2) -> dict:
    prepare_django()
    os.environ.update(WORKER_SETTINGS)
    from django.conf import settings

    for name, value in WORKER_SETTINGS.items():
        setattr(settings, name, int(value))
    import django_rq

    from bench.dispatch import EndpointProcess
    from campaigns.models import Campaign
    from campaigns.pipeline.jobs import reconcile

    # Small runs: 40 msg/s, one batch in flight at a time; big ones fast enough to finish in a minute.
    rate = 50.0 if scenario == "rate" else (40.0 if recipients <= 2000 else 2000.0)
    # In its own process: arrival times taken in this busy one would be late by its own pauses.
    faults = ["--errors", "0.10", "--throttles", "0.05"] if scenario == "errors" else []
    endpoint = EndpointProcess(0.02, extra=["--strict", "--rate-limit", str(rate), *faults])
    campaign, prefix = build_campaign(recipients, endpoint.url, rate)
    workers = Workers()
    events: list[str] = []
    try:
        campaign.launch()
        for _ in range(workers_count):
            workers.start()
        started = time.monotonic()
        deadline = started + max(240, recipients / rate * 3)
        pauses = 0
        fault_at = None
        last_reconcile = 0.0
        while time.monotonic() < deadline:
            campaign.refresh_from_db()
            if campaign.status == Campaign.Status.COMPLETED:
                break
            accepted = endpoint.accepted()
            if fault_at is None and accepted >= recipients / 3:
                fault_at = time.monotonic()
                if scenario == "kill":
                    # Both: the one sending is surely among them (the other may hold no claim).
                    for process in [p for p in workers.processes if p.poll() is None]:
                        workers.kill(process)
                    workers.start()
                    events.append(f"killed the workers at {accepted} accepted, started another")
                elif scenario in ("redis", "errors"):
                    django_rq.get_connection("default").flushdb()
                    events.append(f"flushed Redis at {accepted} accepted")
            if scenario == "pause" and pauses < 10 and accepted >= (pauses + 1) * recipients / 12:
                campaign.pause("chaos")
                time.sleep(0.3)
                campaign.resume()
                pauses += 1
            if time.monotonic() - last_reconcile > 2:
                reconcile()
                last_reconcile = time.monotonic()
            time.sleep(0.2)
        finished = time.monotonic()
        campaign.refresh_from_db()
        report = endpoint.report()
        statuses = Counter(campaign.messages.values_list("status", flat=True))
        sent_ids = set(campaign.messages.filter(status="sent").values_list("id", flat=True))
        unknown_ids = set(campaign.messages.filter(status="unknown").values_list("id", flat=True))
        accepted_ids = set(report["accepted_ids"])
        bursts = report["clusters"]
        # Sustained rate: everything before the last burst over the time to that burst.
        sustained = (report["accepted"] - bursts[-1][2]) / bursts[-1][0] if len(bursts) > 1 else 0.0
        result = {
            "scenario": scenario,
            "database": _vendor(),
            "recipients": recipients,
            "campaign": campaign.status,
            "statuses": dict(statuses),
            "duplicates": len(report["duplicates"]),
            "accepted": report["accepted"],
            "accepted_not_sent": len(accepted_ids - sent_ids - unknown_ids),
            "sent_not_accepted": len(sent_ids - accepted_ids),
            "unknown": len(unknown_ids),
            "unknown_accepted": len(unknown_ids & accepted_ids),
            "over_rate": report["over_rate"],
            "busiest_second": report["busiest_second"],
            "rate": rate,
            "measured_rate": round(sustained, 1),
            "errors": report["errors"],
            "throttled": report["throttled"],
            "pauses": pauses,
            "seconds": round(finished - started, 1),
            "seconds_after_fault": round(finished - fault_at, 1) if fault_at else None,
            "events": events,
            "bursts": bursts,
        }
    finally:
        workers.stop_all()
        endpoint.stop()
        django_rq.get_connection("default").flushdb()
        forget(campaign, prefix)
    return result


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


def verdict(result: dict) -> list[str]:
    """What went wrong, in words (empty: the scenario passed)."""
    problems = []
    statuses = result["statuses"]
    if result["campaign"] != "completed":
        problems.append(f"the campaign is {result['campaign']}, not completed")
    if result["duplicates"]:
        problems.append(f"{result['duplicates']} messages accepted more than once")
    if result["accepted_not_sent"] or result["sent_not_accepted"]:
        problems.append(
            f"{result['accepted_not_sent']} accepted but not recorded, {result['sent_not_accepted']} sent unseen"
        )
    if sum(statuses.values()) != result["recipients"]:
        problems.append(f"{sum(statuses.values())} rows for {result['recipients']} recipients")
    if result["scenario"] != "kill" and statuses.get("sent", 0) != result["recipients"]:
        problems.append(f"only {statuses.get('sent', 0)} of {result['recipients']} sent: {statuses}")
    if result["scenario"] == "kill" and statuses.get("sent", 0) + statuses.get("unknown", 0) != result["recipients"]:
        problems.append(f"rows neither sent nor unknown after the kill: {statuses}")
    if result["over_rate"]:
        problems.append(f"{result['over_rate']} acceptances over the rate of {result['rate']}/s")
    if result["scenario"] == "rate" and result["measured_rate"] < 0.9 * result["rate"]:
        problems.append(f"sent at {result['measured_rate']}/s on a channel limited to {result['rate']}/s")
    if result["scenario"] == "pause" and result["pauses"] < 10:
        problems.append(f"only {result['pauses']} pauses happened")
    return problems


def run() -> list[dict]:
    rows = []
    for scenario in SCENARIOS:
        result = run_scenario(scenario, RECIPIENTS if scenario != "rate" else min(RECIPIENTS, 3000))
        problems = verdict(result)
        rows.append(
            {
                "name": f"chaos {scenario}: {result['recipients']:,} recipients, two workers ({result['database']})",
                "figure": result["seconds"],
                "unit": "s",
                "target": "no loss, no duplicate",
                "ratio": 0.0 if problems else 1.0,
                "note": "; ".join(problems)
                or f"{result['statuses']}, unknown {result['unknown']}, busiest second {result['busiest_second']}, "
                f"{result['measured_rate']}/s",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, required=True)
    parser.add_argument("--recipients", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_scenario(args.scenario, args.recipients)
    result["problems"] = verdict(result)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
