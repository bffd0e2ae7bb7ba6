"""How each A/B variant did: sent, delivered, clicked, replied, opted out, their rates, and whether
the difference between the best two is bigger than chance (a two-proportion z-test).

Cheap at a million recipients: what went, was delivered, clicked, replied or opted out is read from
the campaign's tallies by variant (campaigns/analytics/, kept by the batched appliers as outcomes
arrive: a few rows), and only the messages not gone yet (waiting, in doubt, cancelled) are counted
by the (campaign, variant, status) index. A campaign without tallies by variant (sent before they
were kept) is counted from its messages, its clicked links and its replies, as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db.models import Count

from campaigns.models import (
    Campaign,
    CampaignBreakdown,
    CampaignVariant,
    InboundMessage,
    OutboundMessage,
    ShortLink,
)
from campaigns.models.variant import letter

Status = OutboundMessage.Status
WENT = (Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED, Status.UNDELIVERED, Status.UNKNOWN)
DELIVERED = (Status.DELIVERED, Status.READ)
WAITING = (Status.QUEUED, Status.SENDING, Status.SCHEDULED)
# Not in the tallies: not gone yet, in doubt (counted as gone once decided), or never to go.
NOT_TALLIED = (*WAITING, Status.UNKNOWN, Status.CANCELLED)
OPT_OUT = "STOP"
CHANCE = 0.05  # a difference whose p-value is below this is called bigger than chance
FEWEST = 30  # messages a variant needs before its rate is compared


@dataclass
class VariantResult:
    position: int
    share: int
    summary: str
    recipients: int = 0  # rows, whatever their state
    waiting: int = 0  # not gone yet (queued, sending, scheduled)
    sent: int = 0
    delivered: int = 0
    clicked: int = 0  # recipients who clicked a link at least once
    replied: int = 0  # recipients who replied
    # Recipients who opted out, as the funnel counts them (the same tallies): by replying with an
    # opt-out word (once, however often), or refused by a provider as unsubscribed (Twilio's 21610).
    # A campaign sent before the tallies counts the replies alone (its rows say no more).
    opted_out: int = 0

    @property
    def letter(self) -> str:
        return letter(self.position)

    def rate(self, count: int) -> float | None:
        return count / self.sent if self.sent else None

    def rate_text(self, count: int) -> str:
        rate = self.rate(count)
        return "—" if rate is None else f"{rate:.1%}"

    @property
    def delivered_rate(self) -> str:
        return self.rate_text(self.delivered)

    @property
    def click_rate(self) -> str:
        return self.rate_text(self.clicked)

    @property
    def reply_rate(self) -> str:
        return self.rate_text(self.replied)

    @property
    def opt_out_rate(self) -> str:
        return self.rate_text(self.opted_out)


@dataclass
class Results:
    variants: list[VariantResult]
    waiting_for_winner: int = 0  # a test's rest, not yet given the winner
    notes: dict[str, str] = field(default_factory=dict)  # metric -> a sentence

    def by_position(self) -> dict[int, VariantResult]:
        return {result.position: result for result in self.variants}


ENDED = (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)


def results(campaign: Campaign, over: bool | None = None) -> Results:
    """Every variant's figures and the chance notes for click and reply rates; ``over``: whether no
    more results can come (by default: the campaign has ended), so the notes speak of the test's end,
    not of waiting."""
    over = campaign.status in ENDED if over is None else over
    found = {
        variant.position: VariantResult(variant.position, variant.share, summary_of(variant))
        for variant in CampaignVariant.objects.filter(campaign=campaign).select_related("template")
    }
    tallied = variant_tallies(campaign.pk)
    held = add_tallies(campaign, found, tallied) if tallied else add_counts(campaign, found)
    ordered = [found[position] for position in sorted(found)]
    notes = {
        "clicks": chance_note(ordered, "clicked", "click rate", over),
        "replies": chance_note(ordered, "replied", "reply rate", over),
    }
    return Results(ordered, held, notes)


def variant_tallies(campaign_id: int) -> dict[int, CampaignBreakdown]:
    """The campaign's tallies by variant, by position (none for a campaign sent before they were kept)."""
    rows = CampaignBreakdown.objects.filter(campaign_id=campaign_id, kind=CampaignBreakdown.Kind.VARIANT)
    return {int(row.key): row for row in rows if row.key.isdigit()}


def add_tallies(campaign: Campaign, found: dict[int, VariantResult], tallied: dict[int, CampaignBreakdown]) -> int:
    """Each variant's figures from its tallies and its messages not tallied; the test's rest held back."""
    for position, row in tallied.items():
        result = found.setdefault(position, VariantResult(position, 0, ""))
        result.recipients += row.sent
        result.sent += row.sent
        result.delivered += row.delivered
        result.clicked += row.unique_clicks
        result.replied += row.repliers
        result.opted_out += row.opt_outs
    held = OutboundMessage.objects.filter(campaign=campaign, variant__isnull=True, status=Status.SCHEDULED).count()
    # Each variant's own ranges of the index (variant = ANY, status = ANY), not the campaign's whole.
    add_rows(campaign, found, NOT_TALLIED, sorted(found))
    return held


def add_counts(campaign: Campaign, found: dict[int, VariantResult]) -> int:
    """Each variant's figures counted from its messages, clicked links and replies (no tallies)."""
    held = add_rows(campaign, found)
    for position, number in clicked(campaign).items():
        if position in found:
            found[position].clicked = number
    for (position, opt_out), number in replied(campaign).items():
        if position in found and opt_out:
            found[position].opted_out = number
        elif position in found:
            found[position].replied = number
    return held


def add_rows(
    campaign: Campaign,
    found: dict[int, VariantResult],
    statuses: tuple[str, ...] = (),
    positions: list[int] | None = None,
) -> int:
    """Add the messages (those in ``statuses`` of the variants at ``positions``, or all) to their
    variants; how many are held back for the winner (no variant yet)."""
    held = 0
    rows = OutboundMessage.objects.filter(campaign=campaign)
    if statuses:
        rows = rows.filter(status__in=statuses, variant__in=positions)
    for position, status, number in rows.order_by().values_list("variant", "status").annotate(n=Count("id")):
        if position is None:
            held += number if status == Status.SCHEDULED else 0
            continue
        result = found.setdefault(position, VariantResult(position, 0, ""))
        result.recipients += number
        result.sent += number if status in WENT else 0
        result.delivered += number if status in DELIVERED else 0
        result.waiting += number if status in WAITING else 0
    return held


def summary_of(variant: CampaignVariant) -> str:
    return variant.text[:80] if variant.text else (f"Template “{variant.template}”" if variant.template else "")


def clicked(campaign: Campaign) -> dict[int, int]:
    """Recipients who clicked, by variant (the campaign's clicked links alone: index link_clicked)."""
    rows = (
        ShortLink.objects.filter(campaign=campaign, first_click_at__isnull=False)
        .order_by()
        .values_list("message__variant")
        .annotate(n=Count("message_id", distinct=True))
    )
    return {position: number for position, number in rows if position is not None}


def replied(campaign: Campaign) -> dict[tuple[int, bool], int]:
    """Recipients who replied, by (variant, opted out by replying): a reply counts for the message it answers."""
    found: dict[tuple[int, bool], int] = {}
    replies = InboundMessage.objects.filter(campaign=campaign, in_reply_to__isnull=False).order_by()
    everyone = replies.values_list("in_reply_to__variant").annotate(n=Count("in_reply_to_id", distinct=True))
    stops = (
        replies.filter(keyword=OPT_OUT)
        .values_list("in_reply_to__variant")
        .annotate(n=Count("in_reply_to_id", distinct=True))
    )
    for position, number in everyone:
        if position is not None:
            found[(position, False)] = number
    for position, number in stops:
        if position is not None:
            found[(position, True)] = number
    return found


def two_proportion_p(successes_a: int, total_a: int, successes_b: int, total_b: int) -> float:
    """The two-sided p-value of a two-proportion z-test: how often a difference at least this large
    would come by chance if both variants really did equally well."""
    if not total_a or not total_b:
        return 1.0
    pooled = (successes_a + successes_b) / (total_a + total_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if spread == 0:
        return 1.0
    z = (successes_a / total_a - successes_b / total_b) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def best_two(variants: list[VariantResult], count: str) -> tuple[VariantResult, VariantResult] | None:
    """The two variants with the highest rate of ``count`` (ties: the earlier one first)."""
    ranked = sorted((v for v in variants if v.sent), key=lambda v: (-(getattr(v, count) / v.sent), v.position))
    return (ranked[0], ranked[1]) if len(ranked) >= 2 else None


# The notes that differ once a test is over (no more results can come): (while it runs, once over).
TOO_FEW = (
    "Too few messages sent yet to compare the {words}s (at least {fewest} a variant).",
    "Too few messages were sent to tell the {words}s apart (it takes at least {fewest} a variant).",
)
SAME = ("{a} and {b} have the same {words} so far.", "{a} and {b} had the same {words}.")
MAYBE_CHANCE = (
    "{lead}, but a difference this size could well be chance (p = {p:.2f}): wait for more results.",
    "{lead}, but a difference this size is within chance (p = {p:.2f}): the test cannot tell them apart.",
)


def chance_note(variants: list[VariantResult], count: str, words: str, over: bool = False) -> str:
    """A sentence for staff on whether the best variant's lead in ``words`` is bigger than chance;
    once ``over``, final: no "yet", no "wait for more results" on a test that has ended."""
    pair = best_two(variants, count)
    if pair is None or min(pair[0].sent, pair[1].sent) < FEWEST:
        return TOO_FEW[over].format(words=words, fewest=FEWEST)
    best, next_best = pair
    a, b = getattr(best, count), getattr(next_best, count)
    if a * next_best.sent == b * best.sent:
        return SAME[over].format(a=best.letter, b=next_best.letter, words=words)
    p = two_proportion_p(a, best.sent, b, next_best.sent)
    lead = (
        f"{best.letter}'s {words} ({best.rate_text(a)}) is higher than {next_best.letter}'s ({next_best.rate_text(b)})"
    )
    if p < CHANCE:
        return f"{lead}, and the difference is bigger than chance (p = {p:.3f}): {best.letter} very likely does better."
    return MAYBE_CHANCE[over].format(lead=lead, p=p)
