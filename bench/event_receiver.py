"""A customer's webhook receiver on loopback, for the events bench and the demo: it verifies every
signature with the standardwebhooks library, counts each event id once, and can be told to be down.

    python -m bench.event_receiver --port 8110 --secret whsec_... [--secret-file PATH]

POST anything (one event, or an array of events): 204 if the signature verifies (401 if not), 503 while down.
GET /control/stats: {"unique", "posts", "bad_signatures", "refused_while_down"}.
POST /control/down?seconds=N: answer 503 for the next N seconds (0: up again); with after=K, from
the moment the K-th event arrives.
POST /control/secret?value=whsec_...: the secret to verify with (the endpoint's, known once it is made).
POST /control/slow?seconds=N: answer each POST N seconds after it arrived (a receiver near its timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret) if secret else None
        self.seen: set[str] = set()
        self.posts = 0
        self.received = 0  # events, counting repeats
        self.bad = 0
        self.refused = 0
        self.down_until = 0.0
        self.down_after: int | None = None  # go down by itself once this many events arrived
        self.down_for = 0.0
        self.went_down_at = 0.0
        self.answer_after = 0.0  # seconds each POST waits for its answer

    async def event(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.answer_after:
            await asyncio.sleep(self.answer_after)
        if time.monotonic() < self.down_until:
            self.refused += 1
            return web.Response(status=503)
        self.posts += 1
        try:
            if self.webhook is None:
                raise WebhookVerificationError("no secret yet")
            self.webhook.verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            self.bad += 1
            return web.Response(status=401)
        ids = [event["id"] for event in json.loads(body)] if body.startswith(b"[") else [request.headers["webhook-id"]]
        self.received += len(ids)  # an array of events: each has its own id
        self.seen.update(ids)
        if self.down_after is not None and len(self.seen) >= self.down_after:
            self.down_after = None  # the outage starts exactly there, however fast the events come
            self.went_down_at = time.monotonic()
            self.down_until = self.went_down_at + self.down_for
        return web.Response(status=204)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "pid": os.getpid(),
                "unique": len(self.seen),
                "posts": self.posts,
                "received": self.received,
                "bad_signatures": self.bad,
                "refused_while_down": self.refused,
                "down_for_seconds_yet": max(0.0, time.monotonic() - self.went_down_at) if self.went_down_at else None,
            }
        )

    async def down(self, request: web.Request) -> web.Response:
        if "after" in request.query:
            self.down_after, self.down_for = int(request.query["after"]), float(request.query.get("seconds", "0"))
            return web.json_response({"down_after": self.down_after})
        self.went_down_at = time.monotonic()
        self.down_until = self.went_down_at + float(request.query.get("seconds", "0"))
        return web.json_response({"down_for": float(request.query.get("seconds", "0"))})

    async def slow(self, request: web.Request) -> web.Response:
        self.answer_after = float(request.query.get("seconds", "0"))
        return web.json_response({"answer_after": self.answer_after})

    async def secret(self, request: web.Request) -> web.Response:
        self.webhook = Webhook(request.query["value"])
        return web.json_response({"ok": True})


def app(secret: str = "") -> web.Application:
    receiver = Receiver(secret)
    application = web.Application(client_max_size=1024 * 1024)
    application.add_routes(
        [
            web.get("/control/stats", receiver.stats),
            web.post("/control/down", receiver.down),
            web.post("/control/secret", receiver.secret),
            web.post("/control/slow", receiver.slow),
            web.post("/{tail:.*}", receiver.event),
        ]
    )
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8110)
    parser.add_argument("--secret", default="")
    args = parser.parse_args()
    web.run_app(app(args.secret), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
