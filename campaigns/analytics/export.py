"""A campaign's analytics as a spreadsheet: one row per figure (section, item, measure, value), so a
spreadsheet's pivot table takes it as it is. Read from the tallies, like the page."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone

from campaigns.analytics.reading import campaign_analytics
from campaigns.models import Campaign
from campaigns.models.staff import zone_label
from contacts.exporting import Column, response

COLUMNS = [Column("section", trusted=True), Column("item"), Column("measure", trusted=True), Column("value")]


def analytics_rows(campaign: Campaign, step: str = "") -> Iterator[list[object]]:
    found = campaign_analytics(campaign, step)
    for step_row in found["funnel"]:
        yield ["funnel", step_row.label, "count", step_row.number]
        if step_row.rate is not None:
            yield ["funnel", step_row.label, f"rate ({step_row.of})", round(step_row.rate, 4)]
    chart = found["chart"]
    section = f"per {chart.get('step_name', '5 minutes')} ({zone_label()})"
    for n, label in enumerate(chart["labels"]):
        for measure, values in chart["datasets"].items():
            yield [section, label, measure, values[n]]
    for failure in found["failures"]:
        yield ["failures by error code", failure["code"], "messages", failure["count"]]
        yield ["failures by error code", failure["code"], "meaning", failure["meaning"]]
    for country in found["countries"]:
        for measure in ("sent", "delivered", "failed", "clicked", "replied", "opted_out"):
            yield ["by country", f"{country['name']} ({country['code']})", measure.replace("_", " "), country[measure]]
    cost = found["cost"]
    yield ["cost", "segments sent", "segments", cost["segments"]]
    for line in cost["costs"]:
        if line["amount"] is None:
            yield ["cost", line["unpriced"], "price", "no price per segment set on the channel"]
        else:
            yield ["cost", "actual cost", line["currency"], line["amount"]]
    yield from fallback_rows(found["fallbacks"])


def fallback_rows(fallbacks: dict[str, object] | None) -> Iterator[list[object]]:
    """The SMS fallbacks, apart from the funnel (none for a campaign without a fallback channel)."""
    if fallbacks is None:
        return
    for measure in ("went", "delivered", "failed", "to_go", "segments"):
        yield ["SMS fallbacks", fallbacks["channel"], measure.replace("_", " "), fallbacks[measure]]
    cost = fallbacks["cost"]
    if cost and cost["amount"] is not None:
        yield ["SMS fallbacks", fallbacks["channel"], f"cost ({cost['currency']})", cost["amount"]]


def export_analytics(campaign: Campaign, step: str = "") -> StreamingHttpResponse:
    filename = f"campaign-{campaign.pk}-analytics-{timezone.localdate():%Y-%m-%d}"
    return response(analytics_rows(campaign, step), COLUMNS, "csv", filename)
