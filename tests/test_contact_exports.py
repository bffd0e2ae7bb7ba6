"""Contacts and campaign results download as CSV or XLSX: streamed, filtered as shown, safe in Excel."""

from __future__ import annotations

import csv
import io
import zoneinfo
from datetime import datetime

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse

from campaigns.models import Campaign, OutboundMessage
from contacts.models import Contact

pytestmark = pytest.mark.django_db
EXPORT = "/admin/contacts/contact/export/"


def csv_rows(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads UTF-8 only with the mark
    return list(csv.reader(io.StringIO(text[1:])))


def xlsx_rows(response) -> list[list]:
    assert isinstance(response, StreamingHttpResponse)
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [["" if value is None else value for value in row] for row in book.active.iter_rows(values_only=True)]


def test_one_column_per_extra_field_and_no_json_escapes(staff, make_contact):
    make_contact("+447911123401", "Zoë Ann", city="Zürich", tier="gold")
    make_contact("+447911123402", "Bob", shop="北京")
    header, *rows = csv_rows(staff.get(f"{EXPORT}csv/"))
    assert header == [
        "phone",
        "name",
        "subscription",
        "opted out at (UTC)",
        "opt-out reason",
        "created at (UTC)",
        "city",
        "shop",
        "tier",
    ]
    by_phone = {row[0]: row for row in rows}
    assert by_phone["+447911123401"][1] == "Zoë Ann"
    assert by_phone["+447911123401"][6:] == ["Zürich", "", "gold"]
    assert by_phone["+447911123402"][6:] == ["", "北京", ""]


def test_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(staff, make_contact):
    make_contact("+447911123401", '=HYPERLINK("http://evil","x")', note="+1+1", at="@SUM(A1)", dash="-2+3")
    make_contact("+447911123402", "\tTabbed", note="plain")
    for file_format, read in (("csv", csv_rows), ("xlsx", xlsx_rows)):
        header, *rows = read(staff.get(f"{EXPORT}{file_format}/"))
        by_phone = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
        ann = by_phone["+447911123401"]  # the phone is our E.164: it keeps its +
        assert ann["name"] == '\'=HYPERLINK("http://evil","x")'
        assert (ann["note"], ann["at"], ann["dash"]) == ("'+1+1", "'@SUM(A1)", "'-2+3")
        assert by_phone["+447911123402"]["name"] == "'\tTabbed"
        assert by_phone["+447911123402"]["note"] == "plain"


def test_the_export_follows_the_search_and_filters_on_screen(staff, make_contact, make_list):
    ann = make_contact("+447911123401", "Ann Smith")
    bob = make_contact("+447911123402", "Bob Smith")
    make_contact("+447911123403", "Cat Jones")
    vip = make_list("VIP", [ann, bob])
    Contact.opt_out_phone(bob.phone, "STOP")
    phones = [row[0] for row in csv_rows(staff.get(f"{EXPORT}csv/?q=smith"))[1:]]
    assert sorted(phones) == ["+447911123401", "+447911123402"]
    rows = csv_rows(staff.get(f"{EXPORT}csv/?list={vip.pk}&subscription=opted_out"))[1:]
    assert [(row[0], row[2], row[4]) for row in rows] == [("+447911123402", "opted out", "STOP")]
    assert f'href="{EXPORT}csv/?q=smith"' in staff.get("/admin/contacts/contact/?q=smith").content.decode()


def test_the_export_streams_in_pieces(staff):
    Contact.objects.bulk_create(Contact(phone=f"+4479111{n:05d}", name=f"Ann {n}") for n in range(1300))
    response = staff.get(f"{EXPORT}csv/")
    pieces = list(response.streaming_content)
    assert len(pieces) >= 3  # 500 lines a piece, not one body built in memory
    assert sum(piece.count(b"\n") for piece in pieces) == 1301


def test_times_are_in_the_staff_time_zone_named_in_the_header(staff, make_contact, settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    ann = make_contact("+447911123401", "Ann")
    Contact.objects.filter(pk=ann.pk).update(opted_out_at=datetime(2026, 5, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo("UTC")))
    header, row = csv_rows(staff.get(f"{EXPORT}csv/"))
    assert header[3] == "opted out at (Asia/Kolkata)"
    assert row[3] == "2026-05-01 17:30:00"
    header, row = xlsx_rows(staff.get(f"{EXPORT}xlsx/"))
    assert row[3] == datetime(2026, 5, 1, 17, 30)


def test_times_follow_the_staff_members_own_zone_while_the_file_streams(staff, make_contact):
    """The zone is activated per request and gone by the time the rows are written: it must be taken first."""
    from campaigns.models.staff import StaffProfile

    StaffProfile.objects.create(user=get_user_model().objects.get(username="maria"), time_zone="America/New_York")
    ann = make_contact("+447911123401", "Ann")
    Contact.objects.filter(pk=ann.pk).update(opted_out_at=datetime(2026, 5, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo("UTC")))
    header, row = csv_rows(staff.get(f"{EXPORT}csv/"))
    assert (header[3], row[3]) == ("opted out at (America/New_York)", "2026-05-01 08:00:00")


def test_an_unknown_format_is_not_found_and_outsiders_are_sent_to_log_in(staff, client):
    assert staff.get(f"{EXPORT}pdf/").status_code == 404
    client.logout()
    assert client.get(f"{EXPORT}csv/").status_code == 302


def test_a_campaigns_results_per_recipient(staff, channel, make_contact, settings):
    settings.TIME_ZONE = "Europe/Paris"
    ann = make_contact("+447911123401", "=Ann")
    campaign = Campaign.objects.create(name="Spring", channel=channel, text="Hi")
    sent = datetime(2026, 6, 1, 8, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
    OutboundMessage.objects.create(
        campaign=campaign,
        channel=channel,
        contact=ann,
        to=ann.phone,
        recipient_key="1",
        status="delivered",
        provider_message_id="SM1",
        sent_at=sent,
        delivered_at=sent,
    )
    OutboundMessage.objects.create(
        campaign=campaign,
        channel=channel,
        to="+447911123402",
        recipient_key="2",
        status="failed",
        error_code="21610",
        error_message="-unsubscribed recipient",
    )
    url = f"/admin/campaigns/campaign/{campaign.pk}/results."
    header, *rows = csv_rows(staff.get(f"{url}csv"))
    assert header == [
        "phone",
        "name",
        "status",
        "provider message id",
        "error code",
        "error",
        "sent at (Europe/Paris)",
        "delivered at (Europe/Paris)",
        "variant",
        "clicks",
        "first click at (Europe/Paris)",
        "replies",
        "last reply",
        "last reply at (Europe/Paris)",
        "opted out by replying at (Europe/Paris)",
    ]
    no_clicks = ["0", ""]  # tests/test_analytics.py has recipients who clicked
    no_replies = ["0", "", "", ""]  # tests/test_campaign_replies.py has recipients who replied
    assert rows == [
        [
            "+447911123401",
            "'=Ann",
            "delivered",
            "SM1",
            "",
            "",
            "2026-06-01 10:00:00",
            "2026-06-01 10:00:00",
            "",
            *no_clicks,
            *no_replies,
        ],
        ["+447911123402", "", "failed", "", "21610", "'-unsubscribed recipient", "", "", "", *no_clicks, *no_replies],
    ]
    header, *rows = xlsx_rows(staff.get(f"{url}xlsx"))
    assert rows[0][6] == datetime(2026, 6, 1, 10, 0)
    assert "results.csv" in staff.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert staff.get(f"/admin/campaigns/campaign/{campaign.pk + 99}/results.csv").status_code == 404


def test_an_xlsx_longer_than_excel_allows_continues_on_another_sheet(staff, monkeypatch):
    from contacts import exporting

    monkeypatch.setattr(exporting, "XLSX_ROWS_PER_SHEET", 4)
    Contact.objects.bulk_create(Contact(phone=f"+4479111{n:05d}", name=f"Ann {n}") for n in range(10))
    response = staff.get(f"{EXPORT}xlsx/")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    sheets = [list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets]
    assert [len(rows) for rows in sheets] == [5, 5, 3]  # each with its header
    assert all(rows[0][0] == "phone" for rows in sheets)
    assert len(book.sheetnames) == len(set(book.sheetnames)) == 3


def test_export_memory_does_not_grow_with_the_number_of_contacts(staff, monkeypatch):
    """Ten times the rows, about the same peak: rows are read in chunks and written as they come."""
    import tracemalloc

    from contacts import exporting

    monkeypatch.setattr(exporting, "CHUNK_SIZE", 200)  # both sizes span many chunks

    def peak_while_exporting(file_format: str) -> int:
        response = staff.get(f"{EXPORT}{file_format}/")
        tracemalloc.start()
        for _ in response.streaming_content:
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    Contact.objects.bulk_create(Contact(phone=f"+4479111{n:05d}", name=f"Ann {n}") for n in range(2_000))
    small = {f: peak_while_exporting(f) for f in ("csv", "xlsx")}
    Contact.objects.bulk_create(Contact(phone=f"+4479222{n:05d}", name=f"Bob {n}") for n in range(18_000))
    large = {f: peak_while_exporting(f) for f in ("csv", "xlsx")}
    for file_format in ("csv", "xlsx"):
        assert large[file_format] < 1.3 * small[file_format], (file_format, small, large)
