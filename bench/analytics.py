"""Campaign analytics at scale (issue 18, item 7): a 1,000,000-recipient campaign's page with its
analytics panel, and the dashboard's 7- and 30-day charts over 10,000,000 messages, each ≤ 500 ms.

    DATABASE_URL=postgres://.../wt_analytics make bench ARGS=analytics

The data is built once by PostgreSQL and kept for the next run (BENCH_ANALYTICS_REBUILD=1 builds it
afresh): one completed campaign of BENCH_ANALYTICS_RECIPIENTS (1,000,000) messages sent over three
days to numbers of five countries, with its tallies (5-minute buckets, failures by error code,
countries) as the live path would have written them (one INSERT ... SELECT each from the messages;
clicks, replies and opt-outs drawn from each row's hash); 29 earlier campaigns with their buckets;
and the hourly tallies of BENCH_ANALYTICS_MESSAGES (10,000,000) messages over 90 days on five
channels. The dashboard's charts read only those hourly tallies (at most 720 rows a channel for 30
days), so the message table need not hold the 10,000,000 for its figure: it holds the campaign's
1,000,000 (today's figures read only today's messages). Pages are fetched through the real admin
(Django's test client, the whole request) as a superuser, three times after a warm-up; the figure
is the median.
"""

from __future__ import annotations

import os
import secrets
import sys
import time

from bench.admin_pages import admin_pages_served, load_average, logged_in, page_row, timed_get
from bench.harness import prepare_django

BENCH = "analytics"
TAG = "BenchAnalytics"
REPEATS = 3
VERSION = 1
COUNTRIES = [("+4479", 40), ("+2547", 25), ("+1416", 15), ("+4915", 12), ("+9198", 8)]  # GB KE CA DE IN, %
CODES = [("30003", "Unreachable destination handset"), ("30005", "Unknown destination handset"),
         ("30006", "Landline or unreachable carrier"), ("30007", "Message filtered by the carrier")]  # fmt: skip
SEND_HOURS = 72
OTHER_CAMPAIGNS = 29
DAYS = 90
CHANNELS = 5


def recipients() -> int:
    return int(os.environ.get("BENCH_ANALYTICS_RECIPIENTS", "1000000"))


def messages_total() -> int:
    return int(os.environ.get("BENCH_ANALYTICS_MESSAGES", "10000000"))


def unavailable() -> str | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return (
            f"analytics needs PostgreSQL (it builds its data with generate_series, and its target is PostgreSQL's), "
            f"not {connection.vendor}: set DATABASE_URL=postgres://... to a database of its own."
        )
    return None


def say(text: str) -> None:
    print(f"  analytics: {text}", file=sys.stderr, flush=True)


def marker() -> str:
    return f"{TAG} v{VERSION} {recipients()} {messages_total()}"


def ensure() -> str:
    from campaigns.models import Campaign

    if os.environ.get("BENCH_ANALYTICS_REBUILD") != "1" and Campaign.objects.filter(name=marker()).exists():
        return "reused the data already built"
    started = time.monotonic()
    forget()
    build()
    return f"built in {time.monotonic() - started:.0f} s"


def forget() -> None:
    from django.db import connection

    ours = "(SELECT id FROM providers_channel WHERE name LIKE %s)"
    campaigns = f"(SELECT id FROM campaigns_campaign WHERE channel_id IN {ours})"
    tagged = [f"{TAG}%"]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM campaigns_outboundmessage WHERE channel_id IN {ours}", tagged)
        for table in ("campaigns_campaignbucket", "campaigns_campaignbreakdown"):
            cursor.execute(f"DELETE FROM {table} WHERE campaign_id IN {campaigns}", tagged)
        cursor.execute(f"DELETE FROM campaigns_hourlyoutcomes WHERE channel_id IN {ours}", tagged)
        cursor.execute(f"DELETE FROM campaigns_campaign WHERE channel_id IN {ours}", tagged)
        cursor.execute("DELETE FROM providers_channel WHERE name LIKE %s", tagged)


def build() -> None:
    from datetime import timedelta
    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone

    from campaigns.models import Campaign
    from providers.models import Channel

    now = timezone.now()
    channels = [
        Channel.objects.create(
            name=f"{TAG} {n}",
            provider="sandbox",
            sender="+15005550006",
            price_per_segment=Decimal("0.0075"),
            currency="USD" if n % 2 == 0 else "EUR",
        )
        for n in range(CHANNELS)
    ]
    start = now - timedelta(days=4)
    big = Campaign.objects.create(
        name="Spring launch", channel=channels[0], text="Hi {{ first_name }}, see https://shop.example/spring",
        status=Campaign.Status.COMPLETED, scheduled_at=start, started_at=start, fanned_out_at=start,
        finished_at=start + timedelta(hours=SEND_HOURS), recipient_count=recipients(),
    )  # fmt: skip
    say(f"inserting {recipients():,} messages...")
    started = time.monotonic()
    insert_messages(big.pk, channels[0].pk, start)
    say(f"messages in {time.monotonic() - started:.0f} s; tallies from them...")
    with connection.cursor() as cursor:
        tally_from_messages(cursor, big.pk)
        for n in range(OTHER_CAMPAIGNS):
            at = now - timedelta(days=5 + 3 * n)
            other = Campaign.objects.create(
                name=f"Weekly offer {n + 1}", channel=channels[n % CHANNELS], text="Offer", recipient_count=50_000,
                status=Campaign.Status.COMPLETED, scheduled_at=at, started_at=at, fanned_out_at=at, finished_at=at,
            )  # fmt: skip
            cursor.execute(
                "INSERT INTO campaigns_campaignbucket (campaign_id, channel_id, start, sent, delivered, failed, clicks,"
                " unique_clicks, replies, repliers, opt_outs, segments) SELECT %s, %s,"
                " date_bin('5 minutes', %s::timestamptz, 'epoch') + make_interval(mins => 5 * i),"
                " 166, 150 - mod(i, 7), 6, 14 + mod(i, 5), 11, 4, 3, 1, 166 FROM generate_series(0, 299) AS g(i)",
                [other.pk, channels[n % CHANNELS].pk, at],
            )
        say(f"hourly tallies of {messages_total():,} messages...")
        per_hour = messages_total() // (DAYS * 24 * CHANNELS)
        cursor.execute(
            "INSERT INTO campaigns_hourlyoutcomes (hour, channel_id, sent, delivered, failed, clicks, unique_clicks,"
            " replies, repliers, opt_outs, segments) SELECT date_trunc('hour', %s::timestamptz) - make_interval("
            "hours => h), c, %s, %s * 9 / 10, %s / 20, %s / 12, %s / 15, %s / 40, %s / 50, %s / 400, %s * 3 / 2"
            " FROM generate_series(0, %s) AS h(h), unnest(%s::bigint[]) AS c(c)",
            [now, *([per_hour] * 9), DAYS * 24 - 1, [channel.pk for channel in channels]],
        )
        for table in ("campaigns_outboundmessage", "campaigns_campaignbucket", "campaigns_hourlyoutcomes"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    Campaign.objects.create(name=marker(), channel=channels[0], text="marker: the data is built")


def insert_messages(campaign_id: int, channel_id: int, start) -> None:
    from django.db import connection

    from bench.admin_10m_data import message_columns, outcome_columns, status_case

    shares = [("delivered", 860), ("sent", 40), ("undelivered", 40), ("failed", 60)]
    prefix, upper = [], 0
    for number_prefix, share in COUNTRIES:
        upper += share
        prefix.append(f"WHEN mod(s.i, 100) < {upper} THEN '{number_prefix}'")
    number = f"(CASE {' '.join(prefix)} END) || lpad(mod(s.i, 10000000)::text, 8, '0')"
    outcome = outcome_columns(seconds_apart=SEND_HOURS * 3600 / recipients())
    codes = " ".join(f"WHEN {n} THEN '{code}'" for n, (code, _) in enumerate(CODES))
    texts = " ".join(f"WHEN {n} THEN '{text}'" for n, (_, text) in enumerate(CODES))
    outcome["error_code"] = (
        f"CASE WHEN s.status IN ('failed', 'undelivered') THEN CASE mod(s.i, 4) {codes} END ELSE '' END"
    )
    outcome["error_message"] = (
        f"CASE WHEN s.status IN ('failed', 'undelivered') THEN CASE mod(s.i, 4) {texts} END ELSE '' END"
    )
    computed = {
        **outcome,
        "campaign_id": str(int(campaign_id)),
        "channel_id": str(int(channel_id)),
        "to": number,
        "recipient_key": number,
        "body": "'Hi Ann, see https://s.example/l/Ab12Cd34'",
        "sender_label": "'bench'",
    }
    columns, values, params = message_columns(computed)
    sql = (
        f"INSERT INTO campaigns_outboundmessage ({columns}) SELECT {values} FROM ("
        f"SELECT i, at, uid, {status_case(shares, 'b')} AS status FROM ("
        f"SELECT i, mod(i * 7919, 1000) AS b, %s::timestamptz AS at, {int(campaign_id)}::bigint * 16777216 + i AS uid "
        "FROM generate_series(0::bigint, %s - 1) AS g(i)) r) s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, start, recipients()])


def tally_from_messages(cursor, campaign_id: int) -> None:
    """The campaign's tallies as the live path would have left them (clicks, replies and opt-outs drawn
    from each message's id: 9% of the delivered click, 1.4 clicks each; 3% reply; 0.4% opt out)."""
    country = " ".join(
        f"WHEN m.to LIKE '{prefix}%%' THEN '{code}'"
        for (prefix, _), code in zip(COUNTRIES, ["GB", "KE", "CA", "DE", "IN"], strict=True)
    )
    delivered = "m.status IN ('delivered', 'read')"
    went = "m.sent_at IS NOT NULL"
    wheres = [
        went,
        delivered,
        "m.status IN ('failed', 'undelivered')",
        f"{delivered} AND mod(m.id, 100) < 9",  # clicks: 1.4 a clicker, below
        f"{delivered} AND mod(m.id, 100) < 9",
        f"{delivered} AND mod(m.id, 100) BETWEEN 20 AND 22",
        f"{delivered} AND mod(m.id, 100) BETWEEN 20 AND 22",
        f"{delivered} AND mod(m.id, 1000) < 4",
        went,
    ]
    counters = ", ".join(f"count(*) FILTER (WHERE {where})" for where in wheres)
    counters = counters.replace("< 9)", "< 9) * 14 / 10", 1)
    names = "sent, delivered, failed, clicks, unique_clicks, replies, repliers, opt_outs, segments"
    cursor.execute(
        f"INSERT INTO campaigns_campaignbucket (campaign_id, channel_id, start, {names}) SELECT m.campaign_id,"
        f" m.channel_id, date_bin('5 minutes', m.sent_at, 'epoch'), {counters} FROM campaigns_outboundmessage m"
        " WHERE m.campaign_id = %s AND m.sent_at IS NOT NULL GROUP BY 1, 2, 3",
        [campaign_id],
    )
    cursor.execute(
        f"INSERT INTO campaigns_campaignbreakdown (campaign_id, kind, key, meaning, {names}) SELECT m.campaign_id,"
        f" 'country', CASE {country} ELSE 'ZZ' END, '', {counters} FROM campaigns_outboundmessage m"
        " WHERE m.campaign_id = %s GROUP BY 1, 3",
        [campaign_id],
    )
    cursor.execute(
        f"INSERT INTO campaigns_campaignbreakdown (campaign_id, kind, key, meaning, {names}) SELECT m.campaign_id,"
        " 'error', m.error_code, max(m.error_message), 0, 0, count(*), 0, 0, 0, 0, 0, 0"
        " FROM campaigns_outboundmessage m"
        " WHERE m.campaign_id = %s AND m.status IN ('failed', 'undelivered') GROUP BY 1, 3",
        [campaign_id],
    )


def timed(function, repeats: int = REPEATS) -> float:
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


def function_row(name: str, milliseconds: float, note: str, vendor: str) -> dict:
    return page_row(BENCH, name, milliseconds, note, vendor)


def run() -> list[dict]:
    prepare_django()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import override_settings

    from campaigns import analytics
    from campaigns.models import Campaign

    reason = unavailable()
    if reason:
        raise SystemExit(reason)
    how = ensure()
    say(f"{how}; timing ({load_average()})")
    campaign = Campaign.objects.get(name="Spring launch", channel__name__startswith=TAG)
    page = f"/admin/campaigns/campaign/{campaign.pk}/change/"
    big = f"{campaign.recipient_count:,}"
    user = get_user_model().objects.create_superuser(f"bench-analytics-{secrets.token_hex(3)}", None, "x")
    rows, vendor = [], connection.vendor
    try:
        # The second factor is another bench's subject (inbox): this one times the pages behind it.
        with admin_pages_served(), override_settings(REQUIRE_2FA_FOR_SUPERUSERS=False):
            client = logged_in(user)
            for name, url in (
                (f"campaign page with analytics, {big} recipients", page),
                (f"campaign page, chart per hour, {big}", f"{page}?step=hour"),
                (f"campaign page, chart per 5 minutes, {big}", f"{page}?step=5min"),
                (f"campaign analytics CSV export, {big}", f"/admin/campaigns/campaign/{campaign.pk}/analytics.csv"),
                (f"dashboard, last 7 days, {messages_total():,} messages", "/admin/?days=7"),
                (f"dashboard, last 30 days, {messages_total():,} messages", "/admin/?days=30"),
            ):
                if url.endswith(".csv"):
                    ms = timed(lambda url=url: b"".join(client.get(url).streaming_content))
                else:
                    ms = timed_get(client, url, REPEATS)
                rows.append(page_row(BENCH, name, ms, "whole request, median of 3", vendor))
                say(f"{name}: {ms:,.0f} ms")
            ms = timed(lambda: analytics.campaign_analytics(campaign))
            rows.append(function_row(f"analytics panel alone, {big}", ms, "campaign_analytics()", vendor))
            ms = timed(lambda: analytics.daily(30))
            rows.append(function_row(f"dashboard 30-day charts alone, {messages_total():,}", ms, "daily(30)", vendor))
    finally:
        user.delete()
    rows[0]["note"] += f"; {how}; {load_average()}"
    return rows
