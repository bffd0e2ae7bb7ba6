"""A campaign's per-recipient results as a spreadsheet (CSV or XLSX), streamed.

One row per message: the number, the contact's name, where the message got to, the provider's id,
the error if any, when it was sent and delivered, its A/B variant, its clicks and first click time,
and the recipient's replies to the campaign (how many, the last one and when, and when they opted
out by replying), times in the staff member's time zone (named in the header). Registered on the
campaign admin by ``results_export_url``.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib import admin
from django.db.models import Min, Sum
from django.http import Http404, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage, ShortLink
from campaigns.models.variant import letter
from campaigns.reports.replies import with_replies
from contacts.exporting import CHUNK_SIZE, FORMATS, Column, response, zone_name
from messaging_site.permissions import denied, model_perm

RESULT_FIELDS = [
    "to",
    "contact__name",
    "status",
    "provider_message_id",
    "error_code",
    "error_message",
    "sent_at",
    "delivered_at",
    "variant",
]


def result_columns() -> list[Column]:
    zone = zone_name()
    return [
        Column("phone", trusted=True),  # E.164, validated when the message was made
        Column("name"),
        Column("status", trusted=True),
        Column("provider message id"),
        Column("error code"),
        Column("error"),
        Column(f"sent at ({zone})"),
        Column(f"delivered at ({zone})"),
        Column("variant", trusted=True),  # the A/B variant it got (A, B...), empty without variants
        Column("clicks", trusted=True),  # on the recipient's short links (campaigns/links/), as folded so far
        Column(f"first click at ({zone})"),
        # What the recipient answered this campaign (campaigns/reports/replies.py says which replies count).
        Column("replies"),
        Column("last reply"),
        Column(f"last reply at ({zone})"),
        Column(f"opted out by replying at ({zone})"),
    ]


FALLBACK_FIELDS = ["fallback_for_id", "status", "fallback_reason", "error_message", "sent_at", "delivered_at"]


def fallback_columns() -> list[Column]:
    """A WhatsApp campaign's SMS fallback, beside the WhatsApp message it stood in for (counted apart)."""
    zone = zone_name()
    return [
        Column("SMS fallback status", trusted=True),
        Column("SMS fallback reason", trusted=True),
        Column("SMS fallback error"),
        Column(f"SMS fallback sent at ({zone})"),
        Column(f"SMS fallback delivered at ({zone})"),
    ]


def export_results(request, campaign: Campaign, file_format: str) -> StreamingHttpResponse:
    """Every message of ``campaign``, oldest first, as a download; with its SMS fallback's columns
    when the campaign has a fallback channel."""
    columns = result_columns()
    messages = campaign.messages.order_by("id").values_list("id", *RESULT_FIELDS).iterator(chunk_size=CHUNK_SIZE)
    rows = (with_variant_letter(row) for row in messages)
    if campaign.fallback_channel_id is not None:
        rows = with_fallbacks(rows, CHUNK_SIZE)
        columns = [*columns[: len(RESULT_FIELDS)], *fallback_columns(), *columns[len(RESULT_FIELDS) :]]
    rows = with_clicks(rows, CHUNK_SIZE)
    rows = with_replies(campaign, rows, CHUNK_SIZE)
    filename = f"campaign-{campaign.pk}-results-{timezone.localdate():%Y-%m-%d}"
    return response(rows, columns, file_format, filename)


def with_fallbacks(rows: Iterator[tuple], chunk: int) -> Iterator[tuple]:
    """Rows that start with the message id, with its SMS fallback's cells added: one query for
    ``chunk`` messages at a time (by the fallbacks' unique index on fallback_for)."""
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            yield from _fallbacks_joined(batch)
            batch = []
    yield from _fallbacks_joined(batch)


def _fallbacks_joined(batch: list[tuple]) -> Iterator[tuple]:
    if not batch:
        return
    wanted = OutboundMessage.objects.filter(fallback_for_id__in=[row[0] for row in batch])
    found = {row[0]: row[1:] for row in wanted.values_list(*FALLBACK_FIELDS)}
    nothing = ("", "", "", None, None)
    for row in batch:
        yield (*row, *found.get(row[0], nothing))


def with_variant_letter(row: tuple) -> tuple:
    """The row with its variant's position (last) as staff name it: 1 is A."""
    return (*row[:-1], letter(row[-1]))


def with_clicks(rows: Iterator[tuple], chunk: int) -> Iterator[tuple]:
    """Rows that start with the message id, without it and with the recipient's clicks and first
    click time added: one grouped query over the short links of ``chunk`` messages at a time."""
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            yield from _clicks_joined(batch)
            batch = []
    yield from _clicks_joined(batch)


def _clicks_joined(batch: list[tuple]) -> Iterator[tuple]:
    if not batch:
        return
    found = {
        message_id: (clicks, first)
        for message_id, clicks, first in ShortLink.objects.filter(message_id__in=[row[0] for row in batch])
        .order_by()
        .values_list("message_id")
        .annotate(Sum("click_count"), Min("first_click_at"))
    }
    for pk, *rest in batch:
        clicks, first = found.get(pk, (0, None))
        yield (*rest, clicks or 0, first)


def results_export_url(model_admin: admin.ModelAdmin) -> URLPattern:
    """The URL of the export, for ``model_admin.get_urls()`` (staff only, through admin_view)."""

    def view(request, object_id: str, file_format: str) -> StreamingHttpResponse:
        campaign = model_admin.get_object(request, object_id)
        if campaign is None:
            raise Http404(f"campaign: no campaign with id {object_id!r}.")
        if not model_admin.has_view_permission(request, campaign):
            raise denied(model_perm(model_admin.model, "view"), "export a campaign's results")
        if file_format not in FORMATS:
            raise Http404(f"format: {file_format!r} is not one of {', '.join(FORMATS)}.")
        return export_results(request, campaign, file_format)

    name = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_export_results"
    return path("<path:object_id>/results.<str:file_format>", model_admin.admin_site.admin_view(view), name=name)
