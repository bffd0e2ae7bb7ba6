"""A campaign's replies and the opt-outs that followed it, for its page and its results export.

A reply belongs to a campaign when the store linked it to one of the campaign's messages: the latest
message to that number on that channel within INBOUND_REPLY_WINDOW (7 days by default). An opt-out
followed the campaign when its number sent such a reply that was an opt-out keyword (STOP and its
synonyms, stored as the keyword STOP). Opt-outs by other ways (staff, an import, a provider's
error) name no campaign and are not counted here.

Cheap at any size: counts and the latest rows come from the reply table's campaign indexes
((campaign, received_at), (campaign, phone), and (campaign, phone) for STOP only), never from the
campaign's messages, and every list is cut short. The export looks replies up by number a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from campaigns.models import Campaign, InboundMessage
from contacts.models import Suppression

OPT_OUT = "STOP"
LATEST_SHOWN = 10
DEFINITION = (
    "A reply counts for this campaign when it came from a recipient within the reply window after "
    "this campaign's message to them (and before any later message on the same channel). "
    "An opt-out followed the campaign when that reply was an opt-out keyword (STOP, UNSUBSCRIBE, …); "
    "opt-outs made another way (staff, an import, a provider's error) name no campaign and are not counted."
)
REPLY_FIELDS = ["id", "phone", "text", "keyword", "received_at", "conversation_id", "contact_id", "contact__name"]


@dataclass
class CampaignReplies:
    replies: int  # reply messages
    sent: int  # the campaign's messages that went out
    latest: list[dict]
    opt_outs: int  # numbers that opted out by replying to it
    still_opted_out: int  # of those, still on the suppression list
    latest_opt_outs: list[dict]

    @property
    def rate(self) -> float | None:
        """Replies out of messages sent; None before anything went. (Numbers that replied would need a
        DISTINCT over every reply of the campaign: twice the time at 100,000 replies.)"""
        return self.replies / self.sent if self.sent else None

    @property
    def rate_text(self) -> str:
        return "—" if self.rate is None else f"{self.rate:.1%}"

    @property
    def opt_out_rate_text(self) -> str:
        return "—" if not self.sent else f"{self.opt_outs / self.sent:.2%}"


def summary(campaign: Campaign, sent: int) -> CampaignReplies:
    """Counts and the latest replies and opt-outs of ``campaign``; ``sent`` is how many of its
    messages went out (the page has it from its progress counts already)."""
    replies = InboundMessage.objects.filter(campaign=campaign)
    opt_outs = replies.filter(keyword=OPT_OUT)
    opted_out_numbers = opt_outs.order_by().values("phone").distinct()
    latest_opt_outs = list(opt_outs.order_by("-received_at", "-id").values(*REPLY_FIELDS)[:LATEST_SHOWN])
    still = Suppression.numbers_among(row["phone"] for row in latest_opt_outs)
    for row in latest_opt_outs:
        row["still_opted_out"] = row["phone"] in still
    return CampaignReplies(
        replies=replies.count(),
        sent=sent,
        latest=list(replies.order_by("-received_at", "-id").values(*REPLY_FIELDS)[:LATEST_SHOWN]),
        opt_outs=opted_out_numbers.count(),
        still_opted_out=Suppression.objects.filter(number__in=opted_out_numbers).count(),
        latest_opt_outs=latest_opt_outs,
    )


@dataclass
class RecipientReplies:
    """What one recipient answered this campaign, for their row of the results export."""

    count: int = 0
    last_text: str = ""
    last_at: datetime | None = None
    opted_out_at: datetime | None = None

    def as_cells(self) -> tuple:
        return (self.count, self.last_text, self.last_at, self.opted_out_at)


def replies_by_number(campaign: Campaign, numbers: Iterable[str]) -> dict[str, RecipientReplies]:
    """The replies to ``campaign`` from each of ``numbers`` (a chunk of the export: the (campaign,
    phone) index, one probe a number)."""
    found: dict[str, RecipientReplies] = {}
    rows = (
        InboundMessage.objects.filter(campaign=campaign, phone__in=list(numbers))
        .order_by("phone", "received_at", "id")
        .values_list("phone", "text", "keyword", "received_at")
    )
    for phone, text, keyword, received_at in rows:
        mine = found.setdefault(phone, RecipientReplies())
        mine.count += 1
        mine.last_text, mine.last_at = text, received_at
        if keyword == OPT_OUT and mine.opted_out_at is None:
            mine.opted_out_at = received_at
    return found


def with_replies(campaign: Campaign, rows: Iterator[tuple], chunk: int) -> Iterator[tuple]:
    """Export rows (the number first) with the recipient's replies added, looked up ``chunk`` rows at a time."""
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            yield from _joined(campaign, batch)
            batch = []
    yield from _joined(campaign, batch)


def _joined(campaign: Campaign, batch: list[tuple]) -> Iterator[tuple]:
    if not batch:
        return
    found = replies_by_number(campaign, {row[0] for row in batch})
    nothing = RecipientReplies()
    for row in batch:
        yield (*row, *found.get(row[0], nothing).as_cells())
