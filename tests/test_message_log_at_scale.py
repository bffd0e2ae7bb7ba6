"""The message log built for 10,000,000 rows, checked small: no full counts, an index in order under
every filter and sort, searches that use them, and the pages still right (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from campaigns.admin import message_log
from campaigns.models import Campaign, OutboundMessage
from contacts.admin import paging
from providers.models import Channel

pytestmark = pytest.mark.django_db
LOG = "/admin/campaigns/outboundmessage/"
TABLE = OutboundMessage._meta.db_table
Status = OutboundMessage.Status


@pytest.fixture
def other_channel(db) -> Channel:
    return Channel.objects.create(name="Gateway", provider="sendbulk", sender="ACME", rate_limit=100)


@pytest.fixture
def log(channel, other_channel) -> dict:
    """A spring campaign of 12 (some failed), 6 single messages, 2 on another channel."""
    campaign = Campaign.objects.create(name="Spring", channel=channel, text="Hi", status=Campaign.Status.COMPLETED)
    made = {"campaign": campaign, "spring": [], "single": []}
    for n in range(12):
        status = Status.FAILED if n % 4 == 0 else Status.DELIVERED
        to = f"+4479111234{n:02d}"
        made["spring"].append(
            OutboundMessage.objects.create(
                campaign=campaign, channel=channel, to=to, recipient_key=to, status=status, provider_message_id=f"SM{n}"
            )
        )
    for n in range(6):
        made["single"].append(
            OutboundMessage.objects.create(
                channel=other_channel if n < 2 else channel,
                to=f"+4479229876{n:02d}",
                body="Your code is 1234",
                status=Status.QUEUED if n == 5 else Status.SENT,
                provider_message_id=f"{900_000 + n}" if n < 2 else f"SX{n}",
            )
        )
    return made


def shown(page) -> list[int]:
    return [message.pk for message in page.context["cl"].result_list]


def newest_first(messages) -> list[int]:
    return sorted((message.pk for message in messages), reverse=True)


# --- counting --------------------------------------------------------------------------------------


def message_counts(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and TABLE in q["sql"]]


def test_the_log_counts_at_most_a_capped_number_of_rows(staff, log, monkeypatch):
    monkeypatch.setattr(paging, "EXACT_UP_TO", 5)
    with CaptureQueriesContext(connection) as queries:
        page = staff.get(LOG)
    assert page.status_code == 200
    counts = message_counts(queries)
    capped = [sql for sql in counts if re.search(r"LIMIT 6\b", sql)]
    assert capped, counts
    html = page.content.decode()
    if connection.vendor == "postgresql":
        # Above the cap PostgreSQL's estimate is shown, and no query counts the whole table.
        assert counts == capped
        assert page.context["cl"].paginator.is_estimate
        assert re.search(r"about \d+</span>\s+outbound messages", html)
        assert re.search(r"about \d+ results", html)  # beside the search box too
    else:
        assert re.search(r"\b18\s+outbound messages", html)  # SQLite has no estimate: counted (never millions there)


def test_a_small_result_is_counted_exactly_without_about(staff, log):
    page = staff.get(f"{LOG}?status__exact=failed")
    assert not page.context["cl"].paginator.is_estimate
    html = page.content.decode()
    assert re.search(r"\b3\s+outbound messages", html) and "about" not in html


def test_no_filter_counts_its_choices(staff, log):
    assert staff.get(f"{LOG}?_facets=1").context["cl"].model_admin.show_facets == admin.ShowFacets.NEVER
    with CaptureQueriesContext(connection) as queries:
        staff.get(f"{LOG}?_facets=1")
    assert not [sql for sql in message_counts(queries) if "GROUP BY" in sql.upper()]


# --- filters, sorts, pages: the right rows ---------------------------------------------------------


def test_each_filter_shows_its_messages_newest_first(staff, log, other_channel):
    campaign, spring, single = log["campaign"], log["spring"], log["single"]
    failed = [m for m in spring if m.status == Status.FAILED]
    cases = {
        "?status__exact=failed": failed,
        f"?channel__id__exact={other_channel.pk}": single[:2],
        f"?campaign__id__exact={campaign.pk}": spring,
        f"?campaign__id__exact={campaign.pk}&status__exact=failed": failed,
        "?campaign__isempty=1": single,
        "?campaign__isempty=0": spring,
    }
    for query, expected in cases.items():
        assert shown(staff.get(LOG + query)) == newest_first(expected), query


def test_the_log_sorts_by_number_both_ways(staff, log):
    everything = log["spring"] + log["single"]
    assert shown(staff.get(f"{LOG}?o=2")) == [m.pk for m in sorted(everything, key=lambda m: m.to)]
    assert shown(staff.get(f"{LOG}?o=-2")) == [m.pk for m in sorted(everything, key=lambda m: m.to, reverse=True)]


def test_columns_without_an_index_do_not_sort_even_asked_by_address(staff, log):
    everything = log["spring"] + log["single"]
    for column in (4, 5, 7):  # status, channel, sent at
        page = staff.get(f"{LOG}?o={column}")
        assert shown(page) == newest_first(everything), column
    html = page.content.decode()
    assert "column-state" in html and "sortable column-state" not in html
    assert "sortable column-to" in html


def test_late_pages_find_their_ids_first_and_show_the_right_rows(staff, log, monkeypatch):
    from campaigns.admin.messages import OutboundMessageAdmin

    monkeypatch.setattr(OutboundMessageAdmin, "list_per_page", 5)
    everything = newest_first(log["spring"] + log["single"])
    assert shown(staff.get(f"{LOG}?p=3")) == everything[10:15]
    assert shown(staff.get(f"{LOG}?p=3&campaign__isempty=0")) == newest_first(log["spring"])[10:]
    assert shown(staff.get(f"{LOG}?p=2&campaign__isempty=1")) == newest_first(log["single"])[5:]


# --- search ----------------------------------------------------------------------------------------


def test_a_whole_number_finds_the_messages_to_it(staff, log):
    spring = log["spring"]
    for typed in ("+447911123403", "+44 7911 123403", "447911123403"):
        assert shown(staff.get(LOG, {"q": typed})) == [spring[3].pk], typed


def test_the_start_of_a_number_lists_in_number_order(staff, log):
    spring = log["spring"]
    page = staff.get(LOG, {"q": "+44 7911 1234 0"})
    assert [m.to for m in page.context["cl"].result_list] == [m.to for m in spring[:10]]
    assert shown(staff.get(LOG, {"q": "+44792"})) == [m.pk for m in log["single"]]  # same number order
    assert shown(staff.get(LOG, {"q": "+44793"})) == []
    assert 'class="sortable column-to sorted ascending"' in page.content.decode()  # the header says so


def test_a_provider_id_is_found_whole_letters_or_digits(staff, log):
    assert shown(staff.get(LOG, {"q": "SM7"})) == [log["spring"][7].pk]
    assert shown(staff.get(LOG, {"q": "SM"})) == []  # whole ids only: no scan for a part
    assert shown(staff.get(LOG, {"q": "900001"})) == [log["single"][1].pk]  # a gateway's numeric id


def test_the_start_of_a_number_is_a_range_holding_exactly_the_numbers_starting_with_it(channel):
    numbers = ["+447899999999", "+4479", "+447900000000", "+447999999999", "+448000000000", "+44799", "+4479:"]
    for number in numbers:
        OutboundMessage.objects.create(channel=channel, to=number, status=Status.SENT)
    found = OutboundMessage.objects.filter(message_log.number_starts_with("4479")).values_list("to", flat=True)
    assert sorted(found) == sorted(n for n in numbers if n.startswith("+4479"))
    nines = OutboundMessage.objects.filter(message_log.number_starts_with("+44799")).values_list("to", flat=True)
    assert sorted(nines) == ["+44799", "+447999999999"]


# --- indexes ---------------------------------------------------------------------------------------


def indexes() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return {name: about["columns"] for name, about in constraints.items() if about["index"] or about["primary_key"]}


def test_every_filter_and_sort_of_the_log_has_an_index_in_the_lists_order():
    log_admin = admin.site.get_model_admin(OutboundMessage)
    present = list(indexes().values())
    filtered = [f if isinstance(f, str) else f[0] for f in log_admin.list_filter]
    for name in filtered:  # newest first within its value (status: the states few messages are in; see the model)
        column = OutboundMessage._meta.get_field(name).column
        assert any(index[:2] == [column, "id"] for index in present), name
    for name in log_admin.sortable_by:  # the column first; ties by id (a short incremental sort at most)
        column = OutboundMessage._meta.get_field(name).column
        assert any(index[0] == column for index in present), name
    assert indexes()["msg_single"] == ["id"]  # single and API messages (campaign IS NULL), newest first
    assert indexes()["msg_by_status"] == ["status", "id"]  # scheduled, failed, undelivered, unknown, cancelled
    assert indexes()["msg_by_campaign"] == ["campaign_id", "id", "status"]  # a campaign's messages in one state
    # The foreign keys' own one-column indexes gave way to the wider ones.
    assert ["campaign_id"] not in present and ["channel_id"] not in present


def plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def ids_plan(url: str, staff_user) -> list[dict]:
    """The plan of the query a log page finds its ids with, when PostgreSQL may not sort or read the table."""
    request = RequestFactory().get(url)
    request.user = staff_user
    changelist = admin.site.get_model_admin(OutboundMessage).get_changelist_instance(request)
    ids = changelist.queryset.values("pk")[:100]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plan = json.loads(ids.explain(format="json"))
    return list(plan_nodes(plan[0]["Plan"]))


def test_postgresql_reads_every_filter_and_sort_from_an_index_in_order(log, other_channel):
    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    user = get_user_model().objects.create_superuser("plan", "plan@example.com", "pw-for-tests-only")
    campaign = log["campaign"]
    for query in (
        "",
        "?status__exact=failed",
        f"?channel__id__exact={other_channel.pk}",
        f"?campaign__id__exact={campaign.pk}",
        f"?campaign__id__exact={campaign.pk}&status__exact=failed",
        "?campaign__isempty=1",
        "?status__exact=delivered",
        "?o=1",
        "?o=-1",
    ):
        nodes = ids_plan(LOG + query, user)
        kinds = [node["Node Type"] for node in nodes]
        assert not {"Sort", "Seq Scan", "Bitmap Heap Scan"} & set(kinds), (query, kinds)
    number_search = [node["Node Type"] for node in ids_plan(f"{LOG}?q=%2B447911", user)]
    assert "Seq Scan" not in number_search and "Sort" not in number_search, number_search


def test_a_campaigns_progress_counts_from_the_index_alone(log, channel):
    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    from campaigns.reports import progress, tallies

    with CaptureQueriesContext(connection) as queries:
        progress.snapshot(log["campaign"])
        tallies.count([log["campaign"].pk])
    grouped = [q["sql"] for q in queries if "GROUP BY" in q["sql"] and "error_code" not in q["sql"]]
    assert len(grouped) == 2, grouped
    for sql in grouped:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
        plan = plan if isinstance(plan, list) else json.loads(plan)
        assert "Index Only Scan" in [node["Node Type"] for node in plan_nodes(plan[0]["Plan"])], sql


# --- the cancel action ---------------------------------------------------------------------------


def test_cancelling_every_matching_message_touches_only_those_waiting(staff, log):
    response = staff.post(
        LOG,
        {"action": "cancel_messages", "select_across": "1", "_selected_action": [log["single"][0].pk], "post": "yes"},
        follow=True,
    )
    assert "Cancelled 1 message(s)." in response.content.decode()
    assert OutboundMessage.objects.get(pk=log["single"][5].pk).status == Status.CANCELLED
    assert OutboundMessage.objects.filter(status=Status.CANCELLED).count() == 1
