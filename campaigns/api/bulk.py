"""POST /messages/bulk and GET/PUT /messages/bulk/<job_id>: a bulk job is a Campaign of kind BULK_API.

The request is checked in one pass without a query per recipient, saved as one row, and
answered; the fan-out into messages happens in the background (campaigns/pipeline/fanout.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from campaigns.api.http import ApiError
from campaigns.api.messages import CONTENT_FIELDS, require_content, sender_label, synced_template_field, visible_to
from campaigns.api.quota import counted_against_quota
from campaigns.api.scope import channel_scope, member_field
from campaigns.api.validation import (
    CONFLICT,
    Problems,
    bool_field,
    channel_field,
    is_whole_number,
    media_urls,
    personal_context,
    phone_field,
    provider_field,
    render_template,
    rendered_message_problems,
    schedule_field,
    shown,
    status_callback_field,
    template_field,
    text_field,
    unknown_fields,
    variables_field,
)
from campaigns.content.personalisation import render
from campaigns.conversations.window import RULE, closed_numbers
from campaigns.models import ApiKey, Campaign
from campaigns.pipeline.fanout import enqueue_fan_out
from contacts.models import Suppression
from providers.models import Channel
from providers.registry import provider_for

BULK_BODY_LIMIT = 10 * 1024 * 1024
MAX_RECIPIENTS = 10_000
SUPPRESSION_LOOKUP = 2000  # numbers per IN (...), well under SQLite's parameter limit
SHOWN_CLOSED = 5  # recipients named in a 24-hour-window refusal; the rest are counted
BULK_FIELDS = {
    *("provider", "channel_key", "recipients", *CONTENT_FIELDS),
    *("duplicates_allowed", "track_links", "schedule", "user_id", "status_callback"),
}
Status = Campaign.Status


@dataclass
class BulkRequest:
    """A checked POST /messages/bulk body; recipients are normalised (and deduplicated unless allowed)."""

    channel: Channel
    recipients: list[dict]
    text: str
    media_urls: list[str]
    template: dict | None
    duplicates_allowed: bool
    send_at: datetime | None
    member: object | None
    duplicates_dropped: int = 0  # later occurrences of a number already listed (one number, any spelling)
    suppressed: list[str] = field(default_factory=list)  # numbers on the suppression list: reported, never sent
    status_callback: str = ""  # where its messages' events and its completion go (campaigns/events/)
    track_links: bool = True  # each URL becomes a short link per recipient (campaigns/links/)


def read_bulk(data: dict, api_key: ApiKey) -> BulkRequest:
    problems = Problems()
    unknown_fields(data, BULK_FIELDS, problems)
    channel = channel_field(data, problems, getattr(api_key, "channels_generation", None))
    channel_scope(api_key, channel, problems)
    provider = provider_field(data, channel, problems)
    duplicates_allowed = bool_field(data, "duplicates_allowed", problems)
    recipients, dropped = recipients_field(data, duplicates_allowed, problems)
    media = media_urls(data, problems)
    job = BulkRequest(
        channel=channel,
        recipients=recipients,
        text=text_field(data, "text", problems),
        media_urls=[url for _, url in media],
        template=template_field(data, provider, problems),
        duplicates_allowed=duplicates_allowed,
        send_at=schedule_field(data, problems),
        member=member_field(data, api_key, problems),
        duplicates_dropped=dropped,
        suppressed=suppressed_numbers(recipients),
        status_callback=status_callback_field(data, problems),
        track_links=bool_field(data, "track_links", problems, default=True),
    )
    synced_template_field(job.channel, job.template, problems)
    require_content(data, problems)
    if not problems:
        for problem in rendered_problems(job, media):
            problems.add(problem)
    if not problems and not job.template:
        window_problems(job, problems)
    problems.raise_if_any()
    return job


def window_problems(job: BulkRequest, problems: Problems) -> None:
    """Free-form WhatsApp: every recipient outside the 24-hour window is named (the first few), a 409."""
    suppressed = set(job.suppressed)
    numbers = [recipient["to"] for recipient in job.recipients if recipient["to"] not in suppressed]
    closed = closed_numbers(job.channel, numbers)
    if not closed:
        return
    named = ", ".join(closed[:SHOWN_CLOSED])
    more = f" and {len(closed) - SHOWN_CLOSED:,} more" if len(closed) > SHOWN_CLOSED else ""
    field = "text" if job.text else "media_urls"
    problems.add(
        f"{field}: {RULE}; {len(closed):,} of the {len(numbers):,} recipients have not written within 24 hours: "
        f"{named}{more}.",
        status=CONFLICT,
    )


def suppressed_numbers(recipients: list[dict]) -> list[str]:
    """The recipients' numbers on the suppression list, in the request's order (one query on
    PostgreSQL, one per 2,000 on SQLite): the job keeps them, and fan-out cancels their messages,
    so the job's counts show them too."""
    numbers = list(dict.fromkeys(recipient["to"] for recipient in recipients))
    found: set[str] = set()
    chunk = len(numbers) if connection.vendor == "postgresql" else SUPPRESSION_LOOKUP  # one array parameter there
    for start in range(0, len(numbers), max(chunk, 1)):
        found |= Suppression.numbers_among(numbers[start : start + chunk])
    return [number for number in numbers if number in found]


def rendered_problems(job: BulkRequest, media: list[tuple[str, str]]) -> list[str]:
    """What the provider would refuse in each recipient's message, placeholders filled.

    A problem every recipient shares (too many media files, a text too long before any
    placeholder) is listed once; one that only some recipients' values cause names them. Each
    distinct rendering is judged once, so 10,000 recipients of one fixed text cost one check.
    """
    judged: dict[tuple, list[str]] = {}
    found: list[tuple[str, list[str]]] = []
    personalised = "{{" in job.text or "{{" in json.dumps(job.template or {})
    provider = provider_for(job.channel)
    for recipient in job.recipients if personalised else job.recipients[:1]:
        context = personal_context(recipient["to"], {k: v for k, v in recipient.items() if k != "to"})
        rendered = (render(job.text, context), render_template(job.template, context))
        key = (rendered[0], json.dumps(rendered[1], sort_keys=True) if rendered[1] else "")
        if key not in judged:
            judged[key] = rendered_message_problems(provider, str(context.get("phone", "")), rendered, media)
        if judged[key]:
            found.append((recipient["to"], judged[key]))
    if not found:
        return []
    shared = (
        set.intersection(*(set(problems) for _, problems in found))
        if len(found) == len(job.recipients) or not personalised
        else set()
    )
    listed = [problem for problem in found[0][1] if problem in shared]
    for to, problems in found:
        listed.extend(f"recipients ({to}): {problem}" for problem in problems if problem not in shared)
    return listed


def recipients_field(data: dict, duplicates_allowed: bool, problems: Problems) -> tuple[list[dict], int]:
    """The recipients, normalised, and how many were dropped as repeats of a number already listed."""
    value = data.get("recipients")
    if not isinstance(value, list) or not value:
        problems.add(f'recipients: {shown(value)} is not a list of recipients such as [{{"to": "+14155550123"}}].')
        return [], 0
    if len(value) > MAX_RECIPIENTS:
        # A 400 like any other field out of its documented range (maxItems); 413 is for the body's bytes.
        problems.add(f"recipients: {len(value):,} recipients; at most {MAX_RECIPIENTS:,} per request.")
        return [], 0
    seen: set[str] = set()
    cleaned: list[dict] = []
    dropped = 0
    for position, item in enumerate(value):
        recipient = read_recipient(item, f"recipients[{position}]", problems)
        if recipient is None:
            continue
        if not duplicates_allowed:
            if recipient["to"] in seen:
                dropped += 1  # the first occurrence of a number is the one sent
                continue
            seen.add(recipient["to"])
        cleaned.append(recipient)
    return cleaned, dropped


def read_recipient(item: object, where: str, problems: Problems) -> dict | None:
    """{"to": ..., "name": ..., <any other key>: a value for {{placeholders}}}."""
    if not isinstance(item, dict):
        problems.add(f'{where}: {shown(item)} is not an object such as {{"to": "+14155550123", "name": "Ann"}}.')
        return None
    before = len(problems.messages)
    to = phone_field(item.get("to"), f"{where}.to", problems)
    name = item.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        problems.add(f"{where}.name: {shown(name)} must be a string of at most 200 characters.")
    others = {k: v for k, v in item.items() if k not in ("to", "name")}
    variables = variables_field(others, where, problems) if others else {}
    if len(problems.messages) > before:
        return None
    recipient = {"to": to, **variables}
    if name:
        recipient["name"] = name
    return recipient


def create_job(job: BulkRequest, api_key: ApiKey) -> Campaign:
    """Count its recipients against the key's daily quota (all or none), save the job as a
    campaign and ask for its fan-out, now or at its time."""
    now = timezone.now()
    scheduled = job.send_at is not None
    with counted_against_quota(api_key, len(job.recipients)), transaction.atomic():
        campaign = Campaign.objects.create(
            name=f"API bulk job, {len(job.recipients):,} recipients",
            kind=Campaign.Kind.BULK_API,
            channel=job.channel,
            text=job.text,
            media_urls=job.media_urls,
            provider_template=job.template,
            inline_recipients=job.recipients,
            duplicates_allowed=job.duplicates_allowed,
            status=Status.SCHEDULED if scheduled else Status.RUNNING,
            scheduled_at=job.send_at,
            started_at=None if scheduled else now,
            recipient_count=len(job.recipients),
            created_by=job.member or api_key.user,
            sender_label=sender_label(job.member),
            status_callback=job.status_callback,
            track_links=job.track_links,
        )
        enqueue_fan_out(campaign.pk, at=job.send_at)
    return campaign


def find_job(job_id: str, api_key: ApiKey) -> Campaign:
    found = None
    if is_whole_number(job_id) and len(job_id) <= 18:
        jobs = Campaign.objects.filter(kind=Campaign.Kind.BULK_API).defer("inline_recipients")
        found = visible_to(jobs, api_key).filter(pk=int(job_id)).first()
    if found is None:
        raise ApiError(404, [f"job_id: {job_id[:40]!r} is not a bulk job this key can see."])
    return found


def job_state(campaign: Campaign) -> dict:
    counts = campaign.messages.order_by().values_list("status").annotate(n=Count("id"))
    return {
        "job_id": str(campaign.pk),
        "state": campaign.status,
        "schedule": campaign.scheduled_at,
        "recipient_count": campaign.recipient_count,
        "messages": {status: n for status, n in counts},
        "created_at": campaign.created_at,
        "started_at": campaign.started_at,
        "finished_at": campaign.finished_at,
        "fanned_out_at": campaign.fanned_out_at,
    }


def update_job(campaign: Campaign, data: dict) -> Campaign:
    """PUT: {"schedule": "<ISO 8601>"} moves the job, {"cancel": true} cancels it, until it starts."""
    problems = Problems()
    unknown_fields(data, {"schedule", "cancel"}, problems)
    cancel = bool_field(data, "cancel", problems)
    send_at = schedule_field(data, problems)
    wants_schedule = data.get("schedule") not in (None, "")
    if not problems and cancel == wants_schedule:
        problems.add('Send either {"schedule": "<ISO 8601 time>"} or {"cancel": true}.')
    problems.raise_if_any()
    if cancel:
        return cancel_job(campaign)
    return reschedule_job(campaign, send_at)


def cancel_job(campaign: Campaign) -> Campaign:
    if not campaign.cancel_before_start("Cancelled through the API."):
        too_late(campaign, "cancelled")
    campaign.refresh_from_db()
    return campaign


def reschedule_job(campaign: Campaign, send_at: datetime | None) -> Campaign:
    """A new time; a past one starts the job now."""
    if not campaign.reschedule(send_at):
        too_late(campaign, "rescheduled")
    campaign.refresh_from_db()
    return campaign


def too_late(campaign: Campaign, verb: str) -> None:
    state = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    raise ApiError(409, [f"job_id: job {campaign.pk} is {state}; only a scheduled job can be {verb}."])
