"""Two worker processes share one channel's rate limit, against a fake that enforces it.

Issue 3 asks for the measured rate within ±10% of the limit over a 30-second run with two
workers, and zero 429s from a fake that answers 429 past the limit in any one-second window.
Each worker alone could send hundreds of messages a second to the loopback fake, so only the
shared limit in Redis keeps the two of them together at the channel's rate.

    python -m bench rate_limit                                  the 30-second measurement
    python -m bench.rate_limit --seconds 6 --rate 25 --json     a short run, one JSON line
"""

from __future__ import annotations

import argparse
import json
import secrets
import time

from bench.harness import forget_channel, prepare_django, start_workers, wait_for

SECONDS = 30
RATE = 50.0
WORKERS = 2


def measure(seconds: float = SECONDS, rate: float = RATE, workers: int = WORKERS, batch: int = 1) -> dict:
    """Queue ``rate * seconds`` messages, send them with ``workers`` processes, report what the fake saw."""
    prepare_django()
    from bench.loopback import CountingFake
    from providers.fakes.server import Behaviour
    from providers.models import Channel

    fake = CountingFake(Behaviour(rate_limit=rate))
    channel = Channel.objects.create(
        name=f"Bench rate limit {secrets.token_hex(4)}",
        provider="loopback",
        credentials={"token": secrets.token_hex(8)},
        rate_limit=rate,
        batch_size=batch,
        api_base_url=fake.start(),
    )
    try:
        total = round(rate * seconds)
        _queue_in_jobs(channel, total, jobs_per_worker=10 * workers)
        started = time.monotonic()
        wait_for(start_workers(workers), timeout=seconds * 3 + 60)
        elapsed = time.monotonic() - started
        sent = channel.messages.filter(status="sent").count()
    finally:
        fake.stop()
        forget_channel(channel)
    return {
        "limit": rate,
        "workers": workers,
        "messages": total,
        "sent": sent,
        "accepted": fake.accepted(),
        "rejected_429": fake.rejected_for_rate,
        "rate": round(fake.measured_rate(), 2),
        "busiest_second": fake.busiest_second(),
        "per_worker": fake.per_worker(),
        "elapsed": round(elapsed, 2),
    }


def _queue_in_jobs(channel, total: int, jobs_per_worker: int) -> None:
    """Queued messages in many small send jobs, so that every worker gets its share."""
    import django_rq

    from campaigns.models import OutboundMessage
    from campaigns.pipeline.jobs import send_messages_job
    from campaigns.pipeline.queueing import chunked

    rows = [
        OutboundMessage(channel=channel, to=f"+1555{number:07d}", body="Bench", status=OutboundMessage.Status.QUEUED)
        for number in range(total)
    ]
    ids = [row.pk for row in OutboundMessage.objects.bulk_create(rows, batch_size=1000)]
    queue = django_rq.get_queue("default")
    for chunk in chunked(ids, max(1, total // jobs_per_worker)):
        queue.enqueue(send_messages_job, chunk)


def run() -> list[dict]:
    result = measure()
    rate, limit = result["rate"], result["limit"]
    workers = ", ".join(f"{name} {count}" for name, count in sorted(result["per_worker"].items()))
    return [
        {
            "name": f"rate limit: measured rate, {result['workers']} workers, {SECONDS} s",
            "figure": rate,
            "unit": "msg/s",
            "target": f"{limit:g} ±10%",
            # ≥ 1 exactly when the rate is inside the band: the nearer edge over the distance to it.
            "ratio": min(rate / (0.9 * limit), 1.1 * limit / rate) if rate else 0.0,
            "note": f"{result['accepted']}/{result['messages']} accepted in {result['elapsed']} s; {workers}",
        },
        {
            "name": "rate limit: 429 answers from the fake",
            "figure": result["rejected_429"],
            "unit": "answers",
            "target": 0,
            "ratio": 1.0 if result["rejected_429"] == 0 else 0.0,
            "note": "the fake answers 429 past the limit in any one-second window",
        },
        {
            "name": "rate limit: busiest one-second span",
            "figure": result["busiest_second"],
            "unit": "msg",
            "target": limit,
            "ratio": limit / result["busiest_second"] if result["busiest_second"] else 0.0,
            "note": "in any sliding 1 s, stricter than the fake's windows; over means a send ran > 50 ms late",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--rate", type=float, default=RATE, help="the channel's messages per second")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--batch", type=int, default=1, help="messages per provider request")
    parser.add_argument("--json", action="store_true", help="print the measurement as one JSON line")
    args = parser.parse_args()
    result = measure(args.seconds, args.rate, args.workers, args.batch)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
