"""The staff pages over 10,000,000 messages: each within 500 ms (issue 10, item 3).

The data (bench/admin_10m_data.py) is built once by PostgreSQL and kept for the next run. Each page
is fetched through the real admin by two users, a superuser and a member of the Marketing group
(Django's test client; the whole request), three times after a warm-up; a page's figure is the
slower user's median. The pages: the dashboard, the campaign list (progress and delivery-rate
columns), a running and a completed 1,000,000-recipient campaign's page and its live progress JSON,
the calendar and its feed, the bulk jobs, and the message log: unfiltered, by each filter's
choices, by campaign, searched by number and provider id, sorted by each column both ways, and
1,000 pages deep. First, the campaign list is timed once before any campaign's messages were
counted (campaigns/reports/tallies.py), and one worker counts them.

    DATABASE_URL=postgres://.../bench_10m make bench ARGS=admin_10m

BENCH_ADMIN_MESSAGES sets the size (10,000,000); BENCH_ADMIN_REBUILD=1 builds the data afresh.
PostgreSQL only: the data is built with generate_series, and the target is PostgreSQL's.
"""

from __future__ import annotations

import secrets
import sys
import time
from datetime import timedelta
from urllib.parse import urlencode

from bench import admin_10m_data as data
from bench.admin_pages import admin_pages_served, load_average, logged_in, page_row, timed_get
from bench.harness import prepare_django

BENCH = "admin 10m"
REPEATS = 3
LOG = "/admin/campaigns/outboundmessage/"
CAMPAIGNS = "/admin/campaigns/campaign/"


def unavailable() -> str | None:
    """Why this bench cannot run here, or None."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return (
            f"admin_10m needs PostgreSQL (it builds 10,000,000 rows with generate_series, and its target is "
            f"PostgreSQL's), not {connection.vendor}: set DATABASE_URL=postgres://... to a database of its own."
        )
    return None


def log(query: dict | None = None) -> str:
    return LOG + (f"?{urlencode(query)}" if query else "")


def pages() -> list[tuple[str, str]]:
    from django.utils import timezone

    from campaigns.models import Campaign, OutboundMessage
    from providers.models import Channel

    ours = Campaign.objects.filter(channel__name__startswith=data.TAG)
    running = ours.get(name="Spring launch")
    completed = ours.get(name="Black Friday")
    small = ours.filter(kind="campaign", status="completed", recipient_count__lt=2000).order_by("id").first()
    channels = dict(Channel.objects.filter(name__startswith=data.TAG).values_list("name", "pk"))
    message = OutboundMessage.objects.filter(campaign=running, status="delivered").order_by("id").first()
    today = timezone.localdate()
    month = {"start": (today.replace(day=1) - timedelta(days=7)).isoformat()}
    month["end"] = (today.replace(day=1) + timedelta(days=42)).isoformat()
    big, done = f"{running.recipient_count:,}", f"{completed.recipient_count:,}"
    found = [
        ("dashboard (admin index)", "/admin/"),
        ("campaign list", CAMPAIGNS),
        ("campaign list, archived too", f"{CAMPAIGNS}?archived=all"),
        ("campaign list, completed", f"{CAMPAIGNS}?status__exact=completed"),
        (f"campaign page, running, {big} messages", f"{CAMPAIGNS}{running.pk}/change/"),
        (f"campaign progress JSON, running, {big}", f"{CAMPAIGNS}{running.pk}/progress/"),
        (f"campaign page, completed, {done} messages", f"{CAMPAIGNS}{completed.pk}/change/"),
        (f"campaign progress JSON, completed, {done}", f"{CAMPAIGNS}{completed.pk}/progress/"),
        ("calendar page", f"{CAMPAIGNS}calendar/"),
        ("calendar feed (month)", f"{CAMPAIGNS}calendar/feed/?{urlencode(month)}"),
        ("bulk jobs list", "/admin/campaigns/bulkjob/"),
        ("message log", log()),
        ("message log, page 1,000", log({"p": 1000})),
    ]
    found += [(f"message log, status {status}", log({"status__exact": status})) for status in OutboundMessage.Status]
    found += [
        (f"message log, channel {name}", log({"channel__id__exact": pk})) for name, pk in sorted(channels.items())
    ]
    found += [
        ("message log, campaign messages", log({"campaign__isempty": "0"})),
        ("message log, single and API messages", log({"campaign__isempty": "1"})),
        (f"message log, campaign running, {big}", log({"campaign__id__exact": running.pk})),
        (f"message log, campaign completed, {done}", log({"campaign__id__exact": completed.pk})),
        (
            f"message log, campaign completed, {done}, failed",
            log({"campaign__id__exact": completed.pk, "status__exact": "failed"}),
        ),
        (f"message log, small campaign ({small.recipient_count:,})", log({"campaign__id__exact": small.pk})),
        ("message log, search whole number", log({"q": message.to})),
        ("message log, search number prefix", log({"q": message.to[:9]})),
        ("message log, search provider id", log({"q": message.provider_message_id})),
    ]
    for column, name in sortable_columns().items():
        found += [
            (f"message log, sorted by {name}", log({"o": str(column)})),
            (f"message log, sorted by {name} descending", log({"o": f"-{column}"})),
        ]
    found.append(("message page", f"{LOG}{message.pk}/change/"))
    return found


def sortable_columns() -> dict[int, str]:
    """The message log's sortable columns by ?o= number (its place in the list, after the checkbox)."""
    from django.contrib import admin

    from campaigns.models import OutboundMessage

    log_admin = admin.site.get_model_admin(OutboundMessage)
    sortable = log_admin.sortable_by or log_admin.list_display
    return {n: name for n, name in enumerate(log_admin.list_display, start=1) if name in sortable}


def staff_users(tag: str) -> dict[str, object]:
    """A superuser and a Marketing member, for this run only."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    users = get_user_model().objects
    superuser = users.create_superuser(f"bench-admin-{tag}", f"admin-{tag}@example.com", secrets.token_hex(16))
    marketing = users.create_user(f"bench-marketing-{tag}", password=secrets.token_hex(16), is_staff=True)
    marketing.groups.add(Group.objects.get(name="Marketing"))
    return {"staff": superuser, "marketing": marketing}


def first_campaign_list(client, vendor: str) -> dict:
    """The campaign list before any campaign's messages were counted (just after the upgrade that
    brought tallies): timed once; then a worker counts what the page asked for, as production's would."""
    from bench.harness import start_workers, wait_for
    from campaigns.models import CampaignTally

    CampaignTally.objects.filter(campaign__channel__name__startswith=data.TAG).delete()
    started = time.perf_counter()
    response = client.get(f"{CAMPAIGNS}?archived=all")
    milliseconds = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.status_code
    counting = response.content.decode().count('class="counting"')
    started = time.perf_counter()
    wait_for(start_workers(1), timeout=600)
    worker = time.perf_counter() - started
    note = f"once; {counting} campaigns shown as being counted, then counted by one worker in {worker:.1f} s"
    return page_row(BENCH, "campaign list, first view (nothing counted yet)", milliseconds, note, vendor)


def measure() -> list[dict]:
    prepare_django()
    from django.db import connection

    from bench.harness import start_workers, wait_for

    reason = unavailable()
    if reason:
        raise SystemExit(reason)
    how = data.ensure(data.message_total())
    data.say(f"{how}; timing pages ({load_average()})")
    users = staff_users(secrets.token_hex(3))
    rows = []
    try:
        with admin_pages_served():
            clients = {role: logged_in(user) for role, user in users.items()}
            rows.append(first_campaign_list(clients["staff"], connection.vendor))
            for name, url in pages():
                times = {role: timed_get(client, url, REPEATS) for role, client in clients.items()}
                note = ", ".join(f"{role} {ms:,.0f} ms" for role, ms in times.items())
                rows.append(page_row(BENCH, name, max(times.values()), note, connection.vendor))
                print(f"  {name}: {note}", file=sys.stderr, flush=True)
    finally:
        for user in users.values():
            user.delete()
        wait_for(start_workers(1), timeout=600)  # the recounts the pages asked for: leave the queue empty
    rows[0]["note"] += f"; {how}; {load_average()}"
    return rows


def run() -> list[dict]:
    return measure()
