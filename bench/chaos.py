"""Faults during a campaign, with real worker processes and a strict provider that counts every message.

A Twilio channel points at bench/endpoint.py in strict mode: it reads our message id from every
request, logs each request as it is read (what was written to it, answered or not), counts how
many times each id was accepted, can answer a share of requests 500 or 429 with Retry-After, and
records acceptance times to check the channel's rate over every sliding second.
`rqworker high default --with-scheduler` processes (each in its own process group, so kill -9
takes its work horse too) send a list campaign; this process plays the scheduler's part and runs
the reconciler every RECONCILE_INTERVAL_SECONDS. Scenarios:

- ``kill``: kill -9 both workers a third of the way in, start another, at the production
  settings; the campaign must complete within 60 s of the kill, nothing accepted twice, and no
  ``unknown`` row whose request the endpoint never read (the full run repeats it on the
  slow-connecting edge, where requests are still waiting for their connections at the kill);
- ``redis``: Redis flushed mid-campaign: it completes, nothing lost, nothing sent twice;
- ``errors``: 10% of requests answered 500 and 5% 429 (Retry-After 1), with a Redis flush
  mid-way: every message ends sent, and the rate is never exceeded in any sliding second;
- ``pause``: paused and resumed ten times, each pause held 1.5 s: no duplicate, no gap, and no
  request read more than a second after ``pause()`` returned;
- ``rate``: a channel limited to N msg/s sends at >= 0.9 N;
- ``slow``: the endpoint takes connections slowly (a listen backlog of 5, so SYNs are dropped and
  retried, and connections closed every 3 s): no sliding second over the rate;
- ``tls``: the endpoint speaks HTTPS with a self-signed certificate the workers trust through
  PROVIDER_CA_BUNDLE: new connections per worker for the whole run.

    python -m bench.chaos --scenario kill --recipients 300 --json     one scenario, one JSON line
    python -m bench chaos                                             all (BENCH_CHAOS recipients, 5,000)
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

from bench.harness import BASE_DIR, prepare_django

RECIPIENTS = int(os.environ.get("BENCH_CHAOS", "5000"))
SCENARIOS = ("kill", "redis", "errors", "pause", "rate", "slow", "tls")
# Quicker than production so a small run finishes in seconds; the lease stays at its minimum.
WORKER_SETTINGS = {
    "SENDING_STALE_SECONDS": "60",
    "QUEUED_STALE_SECONDS": "5",
    "SEND_RETRY_BASE_SECONDS": "1",
    "SEND_JOB_BUDGET_SECONDS": "30",
}
# The kill scenario runs at the production settings instead: recovery is measured there.
PRODUCTION: dict[str, str] = {}
PAUSE_HOLD_SECONDS = 1.5  # long enough to see a request that leaves a second after pause() returned
# An edge slow to take connections: SYNs past a listen backlog of 5 are dropped (the client tries
# again a second later), and every connection is closed once 3 s old, so the client opens bursts of
# new ones all along the run (as a fresh worker process did with a fresh pool).
SLOW_CONNECTS = ["--backlog", "5", "--connection-seconds", "3"]


class Workers:
    """`rqworker` processes, each the leader of its own process group."""

    def __init__(self, settings: dict[str, str] | None = None, extra_args: tuple[str, ...] = ()):
        self.processes: list[subprocess.Popen] = []
        self.settings = WORKER_SETTINGS if settings is None else settings
        self.extra_args = extra_args  # a baseline's worker class, say

    def start(self) -> subprocess.Popen:
        env = {**os.environ, "LOG_LEVEL": "WARNING", **self.settings}
        command = [sys.executable, "manage.py", "rqworker", "high", "default", "--with-scheduler", "-v", "0"]
        process = subprocess.Popen(
            [*command, *self.extra_args], cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
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


class LostClaims(logging.Handler):
    """The reconciler's account of each dead claim (the log line of jobs._settle_lost_batch): of the
    rows in ``sending`` at the kill, those whose requests were never written (back to the queue)
    and those that may have left (``unknown``). Before the written record, every one was unknown:
    the same run's baseline."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.back = self.unknown = 0

    def emit(self, record: logging.LogRecord) -> None:
        if lost_claim(record):
            self.back += record.args[1]
            self.unknown += record.args[2]


def lost_claim(record: logging.LogRecord) -> bool:
    return isinstance(record.msg, str) and record.msg.startswith("claim %s lost") and len(record.args) == 3


@contextlib.contextmanager
def lost_claims():
    """The reconciler's log lines of lost claims, counted (its other INFO lines stay out of the output)."""
    logger = logging.getLogger("campaigns.pipeline.jobs")
    handler, level, shown = LostClaims(), logger.level, logger.getEffectiveLevel()

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno >= shown or lost_claim(record)

    logger.addHandler(handler)
    logger.addFilter(keep)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(keep)
        logger.setLevel(level)


def run_scenario(
    scenario: str,
    recipients: int,
    workers_count: int = 2,
    rate: float | None = None,
    worker_args: tuple[str, ...] = (),
    tls: bool | None = None,
    slow: bool | None = None,
) -> dict:
    """One scenario; ``rate``, ``tls`` and ``slow`` override the scenario's own (for baselines)."""
    prepare_django()
    worker_settings = PRODUCTION if scenario == "kill" else WORKER_SETTINGS
    os.environ.update(worker_settings)
    from django.conf import settings

    for name, value in worker_settings.items():
        setattr(settings, name, int(value))
    import django_rq

    from bench.dispatch import EndpointProcess
    from campaigns.models import Campaign
    from campaigns.pipeline.jobs import reconcile

    if rate is None:
        # Small runs: 40 msg/s, one batch in flight at a time; big ones fast enough to finish in a minute.
        rate = 50.0 if scenario == "rate" else (40.0 if recipients <= 2000 else 2000.0)
    tls = scenario == "tls" if tls is None else tls
    slow = scenario == "slow" if slow is None else slow
    # In its own process: arrival times taken in this busy one would be late by its own pauses.
    extra = ["--strict", "--rate-limit", str(rate)]
    extra += ["--errors", "0.10", "--throttles", "0.05"] if scenario == "errors" else []
    extra += SLOW_CONNECTS if slow else []
    certificate = self_signed_certificate() if tls else None
    endpoint = EndpointProcess(0.02, extra=extra, tls=certificate)
    campaign, prefix = build_campaign(recipients, endpoint.url, rate)
    trusted = {"PROVIDER_CA_BUNDLE": certificate[0]} if certificate else {}
    workers = Workers({**worker_settings, **trusted}, extra_args=worker_args)
    events: list[str] = []
    paused: list[tuple[float, float]] = []  # (pause() returned, resumed), time.monotonic()
    lost = LostClaims()
    try:
        campaign.launch()
        for _ in range(workers_count):
            workers.start()
        started = time.monotonic()
        deadline = started + max(240, recipients / rate * 3)
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
            if scenario == "pause" and len(paused) < 10 and accepted >= (len(paused) + 1) * recipients / 12:
                campaign.pause("chaos")
                returned = time.monotonic()
                time.sleep(PAUSE_HOLD_SECONDS)
                paused.append((returned, time.monotonic()))
                campaign.resume()
            if time.monotonic() - last_reconcile > settings.RECONCILE_INTERVAL_SECONDS:
                with lost_claims() as lost_now:
                    reconcile()  # as the scheduler (rqcron) does, in its own process
                lost.back, lost.unknown = lost.back + lost_now.back, lost.unknown + lost_now.unknown
                last_reconcile = time.monotonic()
            # At 2,000 msg/s a twelfth of the campaign goes in 0.2 s: the pauses' turns are watched closely.
            time.sleep(0.02 if scenario == "pause" else 0.2)
        finished = time.monotonic()
        campaign.refresh_from_db()
        report = endpoint.report()
        result = figures(scenario, campaign, report, rate, recipients)
        result.update(
            {
                "workers": workers_count,
                "worker_args": list(worker_args),
                "tls": tls,
                "slow_connects": slow,
                "pauses": len(paused),
                "pause_latency": pause_latency(report["received_at"], paused),
                "seconds": round(finished - started, 1),
                "seconds_after_fault": round(finished - fault_at, 1) if fault_at else None,
                # Rows in ``sending`` when their claims were found dead: put back unwritten, or unknown.
                "lost_sending": lost.back + lost.unknown,
                "lost_sending_back": lost.back,
                "events": events,
                "load_average": round(os.getloadavg()[0], 1),
            }
        )
    finally:
        workers.stop_all()
        endpoint.stop()
        django_rq.get_connection("default").flushdb()
        forget(campaign, prefix)
    return result


def figures(scenario: str, campaign, report: dict, rate: float, recipients: int) -> dict:
    """What the endpoint saw, against how every row ended."""
    statuses = Counter(campaign.messages.values_list("status", flat=True))
    sent_ids = set(campaign.messages.filter(status="sent").values_list("id", flat=True))
    unknown_ids = set(campaign.messages.filter(status="unknown").values_list("id", flat=True))
    accepted_ids = set(report["accepted_ids"])
    received_ids = set(report["received_ids"])
    bursts = report["clusters"]
    # Sustained rate: everything before the last burst over the time to that burst.
    sustained = (report["accepted"] - bursts[-1][2]) / bursts[-1][0] if len(bursts) > 1 and bursts[-1][0] else 0.0
    return {
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
        # The endpoint's own log: an unknown row whose request it never read never left.
        "unknown_never_written": len(unknown_ids - received_ids),
        "over_rate": report["over_rate"],
        "busiest_second": report["busiest_second"],
        "rate": rate,
        "measured_rate": round(sustained, 1),
        "errors": report["errors"],
        "throttled": report["throttled"],
        "connections": report["connections"],
        "bursts": bursts,
    }


def pause_latency(received_at: list[float], paused: list[tuple[float, float]]) -> float | None:
    """The longest time from pause() returning to the last request the endpoint read while paused."""
    if not paused:
        return None
    longest = 0.0
    for returned, resumed in paused:
        during = [at for at in received_at if returned < at < resumed]
        longest = max(longest, max(during, default=returned) - returned)
    return round(longest, 3)


def self_signed_certificate() -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, in files (the certificate is its own CA bundle)."""
    import datetime
    import ipaddress
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chaos bench endpoint")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tempfile.mkdtemp(prefix="chaos-tls-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    cert_path, key_path = f"{folder}/endpoint.pem", f"{folder}/endpoint.key"
    with open(cert_path, "wb") as file:
        file.write(certificate.public_bytes(serialization.Encoding.PEM))
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with open(key_path, "wb") as file:
        file.write(private)
    return cert_path, key_path


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
    # Killed workers, and an edge that closes connections (one closed under a request just written
    # is a reset mid-request), may leave rows unknown: rightly, their requests may have arrived.
    in_doubt_allowed = result["scenario"] in ("kill", "slow")
    if not in_doubt_allowed and statuses.get("sent", 0) != result["recipients"]:
        problems.append(f"only {statuses.get('sent', 0)} of {result['recipients']} sent: {statuses}")
    if in_doubt_allowed and statuses.get("sent", 0) + statuses.get("unknown", 0) != result["recipients"]:
        problems.append(f"rows neither sent nor unknown: {statuses}")
    if result["unknown_never_written"]:
        problems.append(f"{result['unknown_never_written']} unknown rows whose request the endpoint never read")
    if result["over_rate"]:
        problems.append(f"{result['over_rate']} acceptances over the rate of {result['rate']}/s")
    if result["scenario"] == "rate" and result["measured_rate"] < 0.9 * result["rate"]:
        problems.append(f"sent at {result['measured_rate']}/s on a channel limited to {result['rate']}/s")
    if result["scenario"] == "pause" and result["pauses"] < 10:
        problems.append(f"only {result['pauses']} pauses happened")
    if result["scenario"] == "pause" and result["pause_latency"] > PAUSE_TARGET_SECONDS:
        problems.append(f"a request left {result['pause_latency']} s after pause() returned")
    if result["scenario"] == "kill" and result["seconds_after_fault"] > RECOVERY_TARGET_SECONDS:
        problems.append(f"completed {result['seconds_after_fault']} s after the kill")
    return problems


PAUSE_TARGET_SECONDS = 1.0
RECOVERY_TARGET_SECONDS = 60.0
CONNECTIONS_TARGET = "workers x in-flight limit"


def run() -> list[dict]:
    """Every scenario at BENCH_CHAOS recipients, each new figure beside its target and a baseline
    measured in the same run (the easy case: a quick endpoint, plain HTTP, RQ's forking worker)."""
    rows = []
    for scenario in ("kill", "redis", "errors", "rate"):
        result = run_scenario(scenario, RECIPIENTS if scenario != "rate" else min(RECIPIENTS, 3000))
        rows.append(scenario_row(result))
        if scenario == "kill":
            rows += kill_rows(result)
            # Again on an edge slow to take connections: requests wait for theirs at the kill.
            # 2,000 recipients: the rest goes at that edge's pace (late requests retried by dispatch
            # jobs booked in RQ's scheduled registry; the reconciler moves them once overdue while the
            # dead worker's scheduler lock keeps RQ's scheduler off, campaigns/pipeline/queueing.py).
            slow_kill = run_scenario("kill", min(RECIPIENTS, 2000), rate=2000.0, slow=True)
            rows.append(scenario_row(slow_kill))
            rows += kill_rows(slow_kill)
    for rate in (100.0, 2000.0):
        # At 2,000 msg/s each pause lets the requests in flight finish (up to half a second's worth):
        # ten pauses need a campaign of several seconds' sending.
        result = run_scenario("pause", RECIPIENTS * (4 if rate > 1000 else 1), rate=rate)
        rows.append(scenario_row(result))
        rows.append(pause_row(result))
    for rate in (100.0, 2000.0):
        baseline = run_scenario("slow", RECIPIENTS, rate=rate, slow=False)
        rows.append(slow_row(run_scenario("slow", RECIPIENTS, rate=rate), baseline))
    baseline = run_scenario("tls", RECIPIENTS, worker_args=("--worker-class", "rq.Worker"))
    rows.append(tls_row(run_scenario("tls", RECIPIENTS), baseline))
    return rows


def edge(result: dict) -> str:
    """The endpoint's kind, where not the quick plain-HTTP one."""
    kinds = [*(["slow-connecting"] if result["slow_connects"] else []), *(["TLS"] if result["tls"] else [])]
    return f" ({', '.join(kinds)} edge)" if kinds else ""


def scenario_row(result: dict) -> dict:
    problems = verdict(result)
    return {
        "name": f"chaos {result['scenario']}{edge(result)}: {result['recipients']:,} recipients at "
        f"{result['rate']:.0f}/s, {result['workers']} workers ({result['database']})",
        "figure": result["seconds"],
        "unit": "s",
        "target": "no loss, no duplicate",
        "ratio": 0.0 if problems else 1.0,
        "note": "; ".join(problems)
        or f"{result['statuses']}, unknown {result['unknown']}, busiest second {result['busiest_second']}, "
        f"{result['measured_rate']}/s, load {result['load_average']}",
    }


def kill_rows(result: dict) -> list[dict]:
    recovery = result["seconds_after_fault"] or float("inf")
    return [
        {
            "name": f"kill -9{edge(result)}: unknown rows whose request the endpoint never read",
            "figure": result["unknown_never_written"],
            "unit": "rows",
            "target": "0",
            "ratio": 1.0 if result["unknown_never_written"] == 0 else 0.0,
            "note": f"{result['unknown']} unknown, {result['unknown_accepted']} of them accepted by the endpoint; "
            f"same-run baseline, rows handed over (``sending``) at the kill, all unknown without the written "
            f"record: {result['lost_sending']}, of which {result['lost_sending_back']} went back to the queue "
            f"unwritten (before: 100 of 300-450 never left); load {result['load_average']}",
        },
        {
            "name": f"kill -9 of both workers{edge(result)} to campaign completed, production settings",
            "figure": recovery,
            "unit": "s",
            "target": f"<= {RECOVERY_TARGET_SECONDS:.0f} s",
            "ratio": RECOVERY_TARGET_SECONDS / recovery if recovery else 1.0,
            "note": f"baseline before the heartbeat: 161 s (120 s stale limit + 34 s); load {result['load_average']}",
        },
    ]


def pause_row(result: dict) -> dict:
    latency = result["pause_latency"] or 0.0
    return {
        "name": f"pause: latest request after pause() returned, {result['rate']:.0f} msg/s, 10 pauses",
        "figure": latency,
        "unit": "s",
        "target": f"<= {PAUSE_TARGET_SECONDS:.0f} s",
        "ratio": PAUSE_TARGET_SECONDS / latency if latency else 1.0,
        "note": f"before: 0.4 to 2.5 s; load {result['load_average']}",
    }


def slow_row(result: dict, baseline: dict) -> dict:
    problems = verdict(result)
    return {
        "name": f"slow-connecting endpoint (backlog 5, SYNs retried), {result['rate']:.0f} msg/s, two workers: "
        "acceptances over the rate",
        "figure": result["over_rate"],
        "unit": "msgs",
        "target": "0",
        "ratio": 0.0 if problems else 1.0,
        "note": "; ".join(
            [
                *problems,
                f"busiest second {result['busiest_second']}, {result['connections']} connections, "
                f"{result['measured_rate']}/s",
                f"same-run baseline (quick endpoint): over-rate {baseline['over_rate']}, busiest "
                f"{baseline['busiest_second']}, {baseline['measured_rate']}/s",
                f"before: 445-1,034 over at 100/s; load {result['load_average']}",
            ]
        ),
    }


def tls_row(result: dict, baseline: dict) -> dict:
    from providers.http import MAX_IN_FLIGHT

    bound = result["workers"] * MAX_IN_FLIGHT
    per_worker = result["connections"] / result["workers"]
    problems = verdict(result)
    return {
        "name": f"TLS endpoint: new connections per worker, whole run ({result['recipients']:,} at "
        f"{result['rate']:.0f}/s, {result['workers']} workers)",
        "figure": per_worker,
        "unit": "conns",
        "target": f"<= {MAX_IN_FLIGHT} ({CONNECTIONS_TARGET})",
        "ratio": 0.0 if problems else (bound / result["connections"] if result["connections"] else 1.0),
        "note": "; ".join(problems)
        or f"{result['connections']} in all (bound {bound}); same-run baseline, RQ's forking worker: "
        f"{baseline['connections'] / baseline['workers']:.0f} per worker; load {result['load_average']}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, required=True)
    parser.add_argument("--recipients", type=int, default=300)
    parser.add_argument("--rate", type=float, default=None, help="the channel's msg/s (default: by size)")
    parser.add_argument("--fast-connects", action="store_true", help="slow: the same run on a quick endpoint")
    parser.add_argument("--slow-connects", action="store_true", help="kill and others: on the slow-connecting edge")
    parser.add_argument("--forking", action="store_true", help="RQ's forking worker class (a baseline)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    worker_args = ("--worker-class", "rq.Worker") if args.forking else ()
    slow = False if args.fast_connects else (True if args.slow_connects else None)
    result = run_scenario(args.scenario, args.recipients, rate=args.rate, worker_args=worker_args, slow=slow)
    result["problems"] = verdict(result)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
