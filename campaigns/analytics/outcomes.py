"""What each place that applies outcomes tells the tallies: the messages its statements moved.

Every function here takes only rows the caller's own UPDATE or INSERT moved, so an outcome is
counted once however often it arrives; each writes its batch in a few upserts (tallying.Tally).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from campaigns.analytics.tallying import Tally, segments_of

# Message states as strings: the tallies sit below the pipeline and never import it.
DELIVERED = {"delivered", "read"}
FAILED = {"failed", "undelivered"}
NOT_YET_SENT = {"sending", "unknown"}  # a receipt moving one of these on says a provider took it


def tally_sends(
    rows: Iterable[tuple],
    outcomes: dict[int, tuple[str, str, str]],
    now: datetime,
    opted_out: Collection[int] = (),
) -> None:
    """The send path's outcomes. ``rows``: (id, campaign, channel, to, body, variant) of the messages
    its UPDATEs moved; ``outcomes``: id -> (status, error code, error message); ``opted_out``: those
    a provider refused as its recipient unsubscribed (Twilio's 21610): failed, and opted out."""
    tally = Tally()
    for pk, campaign_id, channel_id, to, body, variant in rows:
        status, code, meaning = outcomes[pk]
        if status == "sent":
            tally.add(campaign_id, channel_id, now, to, variant, sent=1, segments=segments_of(body or ""))
        elif status in FAILED:
            tally.add(campaign_id, channel_id, now, to, variant, failed=1, opt_outs=int(pk in opted_out))
            tally.add_failed_at_sending(campaign_id, variant)
            tally.add_failure(campaign_id, code, meaning)
    tally.save()


def tally_receipts(
    moves: Iterable[tuple], now: datetime, bodies: dict[int, str] | None = None, opted_out: Collection[int] = ()
) -> None:
    """Receipts that moved messages. ``moves``: (id, campaign, channel, to, variant, status before,
    status after, error code, error message, taken before) per message, before and after all of a
    batch's receipts for it, where ``taken before`` says a provider had taken it already (its sent_at
    was set: counted sent); ``bodies``: the texts of those a receipt showed sent for the first time
    (their segments); ``opted_out``: those whose failure says the recipient unsubscribed (Twilio's
    21610), counted opted out with the failure."""
    tally = Tally()
    for pk, campaign_id, channel_id, to, variant, before, after, code, meaning, taken in moves:
        counts = receipt_counts(before, after, taken)
        counts["opt_outs"] = int(counts["failed"] == 1 and pk in opted_out)
        if counts["sent"]:
            counts["segments"] = segments_of((bodies or {}).get(pk, ""))
            if before in FAILED:
                # A variant's Sent counted it when it failed at sending (add_failed_at_sending).
                tally.add_failed_at_sending(campaign_id, variant, -1)
        if any(counts.values()):
            tally.add(campaign_id, channel_id, now, to, variant, **counts)
        if counts["failed"]:
            tally.add_failure(campaign_id, code, meaning, counts["failed"])
    tally.save()


def first_taken(before: str, taken: bool) -> bool:
    """Whether a receipt moving a message on from ``before`` shows a provider took it for the first
    time: one not handed over yet, or one that failed at sending (a provider's late delivery report
    after the error it answered, or after a person marked it failed) is sent after all. A receipt
    only ever moves a message forward (campaigns/pipeline/receipts.RANK: failed, then delivered)."""
    return before in NOT_YET_SENT or (before in FAILED and not taken)


def receipt_counts(before: str, after: str, taken: bool = True) -> dict[str, int]:
    """How a message's move from ``before`` to ``after`` changes the counters (each at most once);
    ``taken``: whether it was counted sent already (see first_taken)."""
    sent = int(first_taken(before, taken))
    delivered = int(after in DELIVERED and before not in DELIVERED)
    failed = int(after in FAILED and before not in FAILED)
    if before in FAILED and after in DELIVERED:
        failed = -1  # a late delivery report: the failure counted earlier is taken back
    return {"sent": sent, "delivered": delivered, "failed": failed}


def tally_clicks(clicks: Iterable[tuple], first_clickers: set[int]) -> None:
    """Clicks folded into their links. ``clicks``: (campaign, channel, to, message, variant, clicked
    at) per click; ``first_clickers``: the messages whose recipient clicked for the first time in this batch."""
    tally = Tally()
    seen: set[int] = set()
    for campaign_id, channel_id, to, message_id, variant, at in sorted(clicks, key=lambda click: click[5]):
        first = message_id in first_clickers and message_id not in seen
        seen.add(message_id)
        tally.add(campaign_id, channel_id, at, to, variant, clicks=1, unique_clicks=int(first))
    tally.save()


def tally_replies(replies: Iterable[tuple], first_repliers: set[int], opt_outs: set[int]) -> None:
    """Replies stored. ``replies``: (id, campaign, channel, from, variant of the message answered,
    received at); ``first_repliers``: the replies that are their number's first to that campaign;
    ``opt_outs``: those that opted out."""
    tally = Tally()
    for pk, campaign_id, channel_id, phone, variant, at in replies:
        tally.add(
            campaign_id,
            channel_id,
            at,
            phone,
            variant,
            replies=1,
            repliers=int(pk in first_repliers),
            opt_outs=int(pk in opt_outs),
        )
    tally.save()
