"""Messages per second through the send pipeline with one worker, and database statements per message.

20,000 queued messages on a sandbox channel (no network, a rate limit far above what one worker
reaches) are sent by one RQ worker running the product's send jobs: claim, render, book the rate
limit, provider.send_batch, record outcomes. What is measured is the pipeline's own cost.

The targets are ours (the issues set none for this path): 1,000 msg/s for one worker means a
million-recipient campaign in under 17 minutes per worker; and a few statements per claimed
chunk, not per message, which is what the design promises (bulk claims and bulk outcome writes).
"""

from __future__ import annotations

import secrets
import time

from bench.harness import forget_channel, prepare_django

MESSAGES = 20_000
TARGET_PER_SECOND = 1_000
TARGET_STATEMENTS_PER_1000 = 50


def measure(messages: int = MESSAGES) -> dict:
    prepare_django()
    import django_rq
    from django.db import connection
    from rq import SimpleWorker

    from campaigns.models import OutboundMessage
    from campaigns.pipeline.queueing import enqueue_send
    from providers.models import Channel

    channel = Channel.objects.create(
        name=f"Bench pipeline {secrets.token_hex(4)}", provider="sandbox", rate_limit=1_000_000
    )
    try:
        rows = [
            OutboundMessage(channel=channel, to=f"+1555{n:07d}", body="Hi {{ phone }}", status="queued")
            for n in range(messages)
        ]
        ids = [row.pk for row in OutboundMessage.objects.bulk_create(rows, batch_size=2000)]
        enqueue_send(ids)  # in autocommit the jobs go on the queue at once
        queues = [django_rq.get_queue(name) for name in ("high", "default")]  # single messages go on high
        statements = StatementCounter()
        with connection.execute_wrapper(statements):
            started = time.monotonic()
            SimpleWorker(queues, connection=queues[0].connection).work(burst=True, logging_level="WARNING")
            elapsed = time.monotonic() - started
        sent = channel.messages.filter(status="sent").count()
    finally:
        forget_channel(channel)
    return {
        "messages": messages,
        "sent": sent,
        "elapsed": round(elapsed, 2),
        "per_second": round(sent / elapsed, 1),
        "statements": statements.count,
        "database": connection.vendor,
    }


class StatementCounter:
    """A Django execute wrapper that counts the SQL statements run through it."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def run() -> list[dict]:
    result = measure()
    per_1000 = result["statements"] * 1000 / max(1, result["sent"])
    return [
        {
            "name": f"send pipeline: one worker, {result['messages']:,} messages ({result['database']})",
            "figure": result["per_second"],
            "unit": "msg/s",
            "target": TARGET_PER_SECOND,
            "ratio": result["per_second"] / TARGET_PER_SECOND,
            "note": f"{result['sent']:,} sent in {result['elapsed']} s through the sandbox provider",
        },
        {
            "name": "send pipeline: SQL statements per 1,000 messages",
            "figure": round(per_1000, 1),
            "unit": "statements",
            "target": TARGET_STATEMENTS_PER_1000,
            "ratio": TARGET_STATEMENTS_PER_1000 / per_1000 if per_1000 else 0.0,
            "note": f"{result['statements']:,} statements in all, counted by a connection execute wrapper",
        },
    ]
