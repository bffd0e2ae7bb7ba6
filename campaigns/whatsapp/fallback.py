"""SMS fallback: a WhatsApp campaign's recipient whom WhatsApp cannot reach gets the campaign's
fallback text once, by SMS, through the campaign's fallback channel.

When a fallback goes:
- the WhatsApp message failed with a code for which SMS fits (the provider's ``sms_fallback_codes``:
  not a WhatsApp user, Twilio 63003/63024, Gupshup 1002...), as the receipts are applied
  (``after_failures``, from campaigns/receiving/ and campaigns/pipeline/receipts.py), or as the
  provider's send answer refuses it (campaigns/pipeline/sending.py, with the failure's commit);
- or the campaign has a time (``fallback_after`` minutes) and its WhatsApp message was accepted but
  no delivery came within it (``send_late_fallbacks``, every FALLBACK_CHECK_SECONDS from rqcron).
  WhatsApp may still deliver such a message later (a phone switched off for a day): choosing a time
  accepts that risk, so it is optional;
- or the number is remembered as not on WhatsApp (learned within WHATSAPP_RECHECK_DAYS): at fan-out
  its WhatsApp message is cancelled and the SMS goes instead (``divert_known_off_whatsapp``).

Never for an ``unknown`` outcome (the request may have reached WhatsApp, and the message may have
arrived), nor for other failures (blocked by the user, outside the 24 hours, a rate limit: SMS would
not be welcome or would not help), nor to a number on the suppression list (opt-outs hold for
both channels; the send-time check also stops one who opts out after the fallback was made).

Once: a fallback row names its WhatsApp message (``fallback_for``) under a unique constraint, and is
written with INSERT ... ON CONFLICT DO NOTHING, so a receipt applied twice, or a failure and the
time check together, make one. A fallback is a single message (no ``campaign``; ``fallback_campaign``
says whose), so the campaign's own figures stay WhatsApp's and its fallbacks are counted apart; it
goes through the normal send pipeline (the SMS channel's rate limit, the suppression list), at
once or, outside the campaign's sending hours, at their next opening in the recipient's zone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.models import Campaign, NotOnWhatsApp, OutboundMessage
from contacts.models import Suppression
from providers.models import Channel
from providers.registry import provider_class, provider_classes

log = logging.getLogger(__name__)
Status = OutboundMessage.Status


class Reason:
    """Why a fallback went (OutboundMessage.fallback_reason), and how staff read it."""

    NOT_ON_WHATSAPP = "not_on_whatsapp"
    NOT_DELIVERED_IN_TIME = "not_delivered_in_time"
    KNOWN_OFF_WHATSAPP = "known_off_whatsapp"
    WORDS = {
        NOT_ON_WHATSAPP: "WhatsApp said the number is not on WhatsApp",
        NOT_DELIVERED_IN_TIME: "the WhatsApp message was not delivered in time",
        KNOWN_OFF_WHATSAPP: "the number was already known not to be on WhatsApp",
    }


FINAL_FAILURES = (Status.FAILED, Status.UNDELIVERED)
LATE_SLICE = 5_000  # late WhatsApp messages a check takes per campaign and statement


def is_whatsapp_channel(channel: Channel) -> bool:
    return provider_class(channel.provider).campaign_needs_template


def is_sms_channel(channel: Channel) -> bool:
    """A channel that sends SMS (Twilio SMS, sendbulk, the sandbox): not a WhatsApp one."""
    return not is_whatsapp_channel(channel)


def whatsapp_providers() -> list[str]:
    return [code for code, kind in provider_classes().items() if kind.campaign_needs_template]


# --- failures, as receipts are applied --------------------------------------------------------


def after_failures(message_ids: list[int]) -> int:
    """Messages a batch of receipts has just failed: remember the numbers not on WhatsApp, and give a
    campaign's recipients their SMS fallback. Called inside the receipts' transaction, so the
    fallbacks commit with the failure (their send jobs go after the commit). Returns fallbacks made."""
    if not message_ids:
        return 0
    rows = list(
        OutboundMessage.objects.filter(
            pk__in=message_ids, status__in=FINAL_FAILURES, channel__provider__in=whatsapp_providers()
        ).values_list("pk", "to", "channel_id", "channel__provider", "error_code", "campaign_id")
    )
    off, fitting = [], []
    for pk, to, channel_id, provider, code, campaign_id in rows:
        kind = provider_class(provider)
        if code in kind.not_on_whatsapp_codes:
            off.append((to, code, channel_id))
        if code in kind.sms_fallback_codes and campaign_id is not None:
            fitting.append(pk)
    remember_off_whatsapp(off)
    return create_fallbacks(fitting, Reason.NOT_ON_WHATSAPP)


def remember_off_whatsapp(numbers: list[tuple[str, str, int]]) -> None:
    """(number, code, channel id) learned not to be on WhatsApp, now: one upsert by number."""
    if not numbers:
        return
    now = timezone.now()
    rows = {to: NotOnWhatsApp(number=to, learned_at=now, error_code=c[:32], channel_id=ch) for to, c, ch in numbers}
    NotOnWhatsApp.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["number"],
        update_fields=["learned_at", "error_code", "channel"],
    )


# --- making the fallbacks ---------------------------------------------------------------------


@dataclass
class Plan:
    """A campaign's fallback settings, read once for a batch."""

    campaign_id: int
    channel_id: int
    text: str
    label: str
    created_by_id: int | None
    window: tuple | None

    def send_at(self, to: str, now: datetime) -> datetime | None:
        """When the SMS may go: None for now, else the next opening of the campaign's sending hours."""
        if self.window is None:
            return None
        from campaigns.pipeline import sending_hours

        zones = sending_hours.zones_for(to) or (settings.TIME_ZONE,)
        return sending_hours.hours(*self.window).opens_at(zones, now)


def create_fallbacks(whatsapp_ids: list[int], reason: str) -> int:
    """The SMS fallback of each of these WhatsApp campaign messages whose campaign has one, made in
    one INSERT ... ON CONFLICT DO NOTHING (a message that has one already gets no second) and given
    its send job after the commit. Suppressed numbers get none. Returns how many were asked for."""
    if not whatsapp_ids:
        return 0
    messages = list(
        OutboundMessage.objects.filter(
            pk__in=whatsapp_ids, campaign__fallback_channel__isnull=False, channel__provider__in=whatsapp_providers()
        )
        .exclude(campaign__status=Campaign.Status.CANCELLED)
        .values_list("pk", "to", "contact_id", "variables", "campaign_id")
    )
    if not messages:
        return 0
    plans = _plans({campaign_id for *_, campaign_id in messages})
    opted_out = Suppression.numbers_among({to for _, to, *_ in messages})
    now = timezone.now()
    rows = []
    for pk, to, contact_id, variables, campaign_id in messages:
        plan = plans.get(campaign_id)
        if plan is None or to in opted_out:
            continue
        send_at = plan.send_at(to, now)
        rows.append(
            OutboundMessage(
                channel_id=plan.channel_id,
                contact_id=contact_id,
                to=to,
                body=plan.text,
                variables=variables,
                status=Status.SCHEDULED if send_at else Status.QUEUED,
                send_at=send_at,
                created_by_id=plan.created_by_id,
                sender_label=plan.label,
                fallback_for_id=pk,
                fallback_campaign_id=campaign_id,
                fallback_reason=reason,
            )
        )
    if not rows:
        return 0
    OutboundMessage.objects.bulk_create(rows, ignore_conflicts=True, batch_size=len(rows))
    _enqueue([row.fallback_for_id for row in rows])
    return len(rows)


def _plans(campaign_ids: set[int]) -> dict[int, Plan]:
    campaigns = Campaign.objects.filter(pk__in=campaign_ids, fallback_channel__isnull=False).exclude(fallback_text="")
    return {
        c.pk: Plan(
            c.pk,
            c.fallback_channel_id,
            c.fallback_text,
            f"SMS fallback: {c.name}"[:150],
            c.created_by_id,
            (c.window_start, c.window_end) if c.window_start and c.window_end else None,
        )
        for c in campaigns
    }


def _enqueue(whatsapp_ids: list[int]) -> None:
    """Send jobs for the fallbacks of these messages that wait in the queue (a duplicate job is
    harmless: the claim lets one send); scheduled ones go when the reconciler releases them."""
    from campaigns.pipeline.queueing import enqueue_send

    queued = OutboundMessage.objects.filter(
        fallback_for_id__in=whatsapp_ids, status=Status.QUEUED, claim_token__isnull=True
    ).values_list("pk", flat=True)
    enqueue_send(list(queued))


# --- numbers known not to be on WhatsApp, at fan-out -------------------------------------------


def divert_known_off_whatsapp(campaign_id: int) -> int:
    """At the end of a fan-out: recipients whose number is remembered as not on WhatsApp (learned
    within WHATSAPP_RECHECK_DAYS) get the SMS straight away; their WhatsApp message is cancelled.
    Before dispatching starts, so none of those WhatsApp messages has gone."""
    campaign = Campaign.objects.filter(pk=campaign_id, fallback_channel__isnull=False).exclude(fallback_text="").first()
    if campaign is None or not is_whatsapp_channel(campaign.channel):
        return 0
    since = timezone.now() - timedelta(days=settings.WHATSAPP_RECHECK_DAYS)
    known = NotOnWhatsApp.objects.filter(learned_at__gte=since).values("number")
    ids = list(
        OutboundMessage.objects.filter(campaign_id=campaign_id, status=Status.QUEUED, to__in=known).values_list(
            "pk", flat=True
        )
    )
    from campaigns.pipeline.queueing import chunked

    for chunk in chunked(ids, 1000):
        with transaction.atomic():
            OutboundMessage.objects.filter(pk__in=chunk, status=Status.QUEUED, claim_token__isnull=True).update(
                status=Status.CANCELLED,
                error_code="not_on_whatsapp",
                error_message="Not on WhatsApp (learned from an earlier message): sent by SMS instead.",
                updated_at=timezone.now(),
            )
            create_fallbacks(chunk, Reason.KNOWN_OFF_WHATSAPP)
    if ids:
        log.info("campaign %s: %d recipient(s) known not to be on WhatsApp get the SMS instead", campaign_id, len(ids))
    return len(ids)


# --- not delivered in time: the periodic check ------------------------------------------------


def send_late_fallbacks() -> dict[str, int]:
    """The rqcron job: for each campaign with a fallback time, its WhatsApp messages still only
    ``sent`` (no delivery) that long after they went get their SMS.

    Cheap at a million messages: each campaign keeps how far it has checked
    (fallback_checked_until), and each run reads only the sent messages that went since then and
    before the cutoff, by the partial index msg_campaign_sent; a campaign drops out once it has
    finished and been checked past its end."""
    now = timezone.now()
    campaigns = (
        Campaign.objects.filter(fallback_after__isnull=False, fallback_channel__isnull=False, started_at__isnull=False)
        .exclude(status=Campaign.Status.CANCELLED)
        .filter(
            Q(finished_at__isnull=True)
            | Q(fallback_checked_until__isnull=True)
            | Q(fallback_checked_until__lt=F("finished_at"))
        )
        .values_list("pk", "fallback_after", "fallback_checked_until")
    )
    made = checked = 0
    for campaign_id, minutes, checked_until in list(campaigns):
        made += _late_of(campaign_id, now - timedelta(minutes=minutes), checked_until)
        checked += 1
    return {"campaigns": checked, "fallbacks": made}


def _late_of(campaign_id: int, cutoff: datetime, checked_until: datetime | None) -> int:
    late = OutboundMessage.objects.filter(campaign_id=campaign_id, status=Status.SENT, sent_at__lte=cutoff)
    if checked_until is not None:
        late = late.filter(sent_at__gte=checked_until)  # the boundary again: the constraint drops repeats
    made = 0
    after = Q()
    while True:
        rows = list(late.filter(after).order_by("sent_at", "pk").values_list("pk", "sent_at")[:LATE_SLICE])
        full = len(rows) == LATE_SLICE
        with transaction.atomic():
            made += create_fallbacks([pk for pk, _ in rows], Reason.NOT_DELIVERED_IN_TIME)
            reached = rows[-1][1] if full else cutoff
            Campaign.objects.filter(pk=campaign_id).update(fallback_checked_until=reached)
        if not full:
            return made
        last_pk, last_at = rows[-1]
        after = Q(sent_at__gt=last_at) | Q(sent_at=last_at, pk__gt=last_pk)  # a batch shares one sent_at
