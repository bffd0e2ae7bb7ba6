"""The import engine: reading messy files, recognising columns, numbers to E.164, and what each row becomes."""

from __future__ import annotations

import codecs

import pytest

from contacts.importing import columns, engine, reading
from contacts.importing.errors import ImportFileError
from contacts.importing.report import rejected_rows_csv, safe_cell
from contacts.importing.rows import normalise_phone
from contacts.importing.writing import ChunkWriter
from contacts.models import Contact, ContactImport, ContactList, ListMembership

pytestmark = pytest.mark.django_db


def write(tmp_path, name: str, content: bytes | str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def make_import(path, region="KE", existing="update", target_list=None) -> ContactImport:
    contact_import = ContactImport(
        file_name=path.name, stored_path=str(path), region=region, existing=existing, target_list=target_list
    )
    engine.open_import(contact_import)
    contact_import.save()
    return contact_import


def import_file(path, **kwargs) -> ContactImport:
    return engine.run(make_import(path, **kwargs))


@pytest.mark.parametrize(
    ("content", "encoding", "expected_encoding", "delimiter"),
    [
        ("phone,name\n0712345678,Zoë\n", "utf-8", "utf-8", ","),
        ("phone;name\n0712345678;Zoë\n", "utf-8-sig", "utf-8-sig", ";"),
        ("phone\tname\r\n0712345678\tZoë\r\n", "utf-16", "utf-16", "\t"),
        ("phone\tname\n0712345678\tZoë\n", "utf-16-le", "utf-16-le", "\t"),
        ("phone;name\n0712345678;Zoë\n", "latin-1", "cp1252", ";"),
    ],
)
def test_encodings_and_delimiters_are_found_from_the_file(tmp_path, content, encoding, expected_encoding, delimiter):
    path = write(tmp_path, "contacts.csv", content, encoding)
    info = reading.inspect(str(path), path.name)
    assert (info.encoding, info.delimiter, info.header) == (expected_encoding, delimiter, ["phone", "name"])
    result = import_file(path)
    assert (result.state, result.created) == ("done", 1)
    assert Contact.objects.get().name == "Zoë"


def test_bytes_that_are_not_windows_1252_fall_back_to_latin1(tmp_path):
    path = write(tmp_path, "old.csv", b"phone;name\n0712345678;Zo\xeb \x81\n")
    assert reading.inspect(str(path), path.name).encoding == "latin-1"
    assert import_file(path).created == 1
    assert Contact.objects.get().name == "Zo\u00eb \x81"


def test_utf16_excel_unicode_text_has_a_bom_and_tabs(tmp_path):
    path = write(
        tmp_path, "export.txt", codecs.BOM_UTF16_LE + "Mobile\tFull name\r\n0712345678\tAnn\r\n".encode("utf-16-le")
    )
    assert import_file(path).created == 1
    assert Contact.objects.get().phone == "+254712345678"


def test_xlsx_is_read_with_numbers_as_typed(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Phone 1 - Value", "First name", "Last name", "Joined"])
    sheet.append([254712345678, "Ann", "Smith", "2024-01-02"])
    sheet.append(["0712 345 679", "Bob", None, None])
    book.save(tmp_path / "contacts.xlsx")
    result = import_file(tmp_path / "contacts.xlsx")
    assert (result.created, result.invalid) == (2, 0)
    assert dict(Contact.objects.values_list("phone", "name")) == {"+254712345678": "Ann Smith", "+254712345679": "Bob"}
    assert Contact.objects.get(phone="+254712345678").extra_fields == {"joined": "2024-01-02"}


def test_columns_are_recognised_by_common_names_and_extras_get_placeholder_keys():
    mapping = columns.guess_mapping(["Phone 1 - Value", "First Name", "Last name", "Home City", "2nd Phone", "Name "])
    assert [entry["role"] for entry in mapping] == ["phone", "extra", "extra", "extra", "extra", "name"]
    assert [entry["key"] for entry in mapping if entry["role"] == "extra"] == [
        "first_name",
        "last_name",
        "home_city",
        "field_2nd_phone",
    ]
    assert columns.placeholder_key("Città natale", 0) == "citta_natale"
    assert columns.placeholder_key("電話", 3) == "column_4"
    mapping = columns.guess_mapping(["msisdn", "first", "surname", "Phone"])
    assert [entry["role"] for entry in mapping] == ["phone", "first_name", "last_name", "extra"]
    assert mapping[3]["key"] == "phone_2"  # "phone" is the contact's own placeholder


def test_a_mapping_without_a_phone_column_is_refused_naming_the_columns():
    problems = columns.mapping_problems(columns.guess_mapping(["Who", "City"]))
    assert len(problems) == 1 and "'Who', 'City'" in problems[0]


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("0712345678", "KE", "+254712345678"),
        ("+254 712-345-678", "US", "+254712345678"),
        ("254712345678", "US", "+254712345678"),
        ("00447911123456", "KE", "+447911123456"),
        ("020 7946 0959", "GB", "+442079460959"),
        ("07911 123456", "GB", "+447911123456"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("whatsapp:+14155552671", "KE", "+14155552671"),
    ],
)
def test_numbers_become_e164_in_the_default_country(raw, region, expected):
    assert normalise_phone(raw, region) == (expected, "")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("2.54712E+11", "scientific notation"),
        ("1.5e11", "scientific notation"),
        ("254712345678.0", "decimal part"),
        ("not a number", "is not a phone number"),
        ("0712", "not a valid number"),
        ("", "no phone number"),
    ],
)
def test_bad_and_spreadsheet_mangled_numbers_are_reported_never_guessed(raw, words):
    phone, reason = normalise_phone(raw, "KE")
    assert phone is None and words in reason


def test_bad_rows_never_block_good_ones_and_each_is_reported(tmp_path):
    path = write(
        tmp_path,
        "messy.csv",
        "Phone;Name;City\n"
        "0712345678;Ann;Nairobi\n"
        "2.54712E+11;Bob;Mombasa\n"
        "0712 345 678;Ann again;Kisumu\n"
        '0712345679;"Smith; Jr";Nakuru\n'
        "0712345680;Too;Many;Cells\n"
        "0712345681\n"
        ";Nobody;\n",
    )
    result = import_file(path)
    assert (result.rows_read, result.created, result.duplicates, result.invalid) == (7, 3, 1, 3)
    assert sorted(Contact.objects.values_list("phone", flat=True)) == [
        "+254712345678",
        "+254712345679",
        "+254712345681",
    ]
    assert Contact.objects.get(phone="+254712345678").name == "Ann"  # the first row wins
    reasons = dict(result.rejections.values_list("row_number", "reason"))
    assert "scientific notation" in reasons[3]
    assert reasons[4].startswith("duplicate of row 2")
    assert "4 cells but the header has 3 columns" in reasons[6]
    assert reasons[8] == "no phone number"
    report = "".join(rejected_rows_csv(result))
    assert report.startswith("\ufeffrow,reason,Phone,Name,City\r\n")
    assert "3,\"phone '2.54712E+11' was turned into scientific notation" in report


def test_an_opted_out_contact_stays_opted_out_whatever_the_file_says(tmp_path):
    stopped = Contact.objects.create(
        phone="+254712345678", name="Ann", opted_out_at="2024-01-01T00:00:00Z", opt_out_reason="STOP"
    )
    Contact.objects.create(phone="+254712345679", name="Bob")
    path = write(
        tmp_path,
        "optouts.csv",
        "phone,name,opted_out_at\n0712345678,Ann,\n0712345679,Bob,2024-05-31\n0712345680,Cy,yes\n0712345681,Di,maybe\n",
    )
    result = import_file(path)
    stopped.refresh_from_db()
    assert (stopped.opted_out_at.year, stopped.opt_out_reason) == (2024, "STOP")
    bob = Contact.objects.get(phone="+254712345679")
    assert bob.opted_out_at.isoformat() == "2024-05-31T00:00:00+00:00" and "import" in bob.opt_out_reason
    assert Contact.objects.get(phone="+254712345680").opted_out_at is not None
    assert (result.created, result.updated, result.invalid) == (1, 2, 1)
    assert "neither a date" in result.rejections.get().reason


def test_update_merges_fields_and_skip_leaves_existing_contacts_alone(tmp_path, make_contact):
    make_contact("+254712345678", "Ann", city="Nairobi", tier="gold")
    path = write(tmp_path, "update.csv", "phone,name,city\n0712345678,Ann Smith,Kisumu\n0712345679,,Nakuru\n")
    result = import_file(path, existing="skip")
    assert (result.created, result.skipped_existing, result.updated) == (1, 1, 0)
    assert Contact.objects.get(phone="+254712345678").extra_fields == {"city": "Nairobi", "tier": "gold"}
    result = import_file(path, existing="update")
    ann = Contact.objects.get(phone="+254712345678")
    assert (ann.name, ann.extra_fields) == ("Ann Smith", {"city": "Kisumu", "tier": "gold"})
    assert (result.created, result.updated) == (0, 2)


def test_running_again_duplicates_nothing_in_contacts_or_lists(tmp_path):
    customers = ContactList.objects.create(name="Customers")
    path = write(tmp_path, "list.csv", "phone,name\n0712345678,Ann\n0712345679,Bob\n")
    import_file(path, target_list=customers)
    again = import_file(path, target_list=customers)
    assert (again.created, again.updated) == (0, 2)
    assert Contact.objects.count() == 2
    assert ListMembership.objects.filter(contact_list=customers).count() == 2
    customers.refresh_from_db()
    assert customers.member_count == 2


def test_a_failure_partway_says_which_rows_went_in_and_a_rerun_finishes_without_duplicates(
    tmp_path, settings, monkeypatch
):
    settings.CONTACT_IMPORT_CHUNK_ROWS = 3
    customers = ContactList.objects.create(name="Customers")
    lines = [f"07123456{n:02d},Person {n}" for n in range(10)] + ["0712345601,Repeat of row 3"]
    path = write(tmp_path, "big.csv", "phone,name\n" + "\n".join(lines) + "\n")
    contact_import = make_import(path, target_list=customers)
    original = ChunkWriter.write
    calls = []

    def fail_on_third_chunk(self, contacts, rejections):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("database went away")
        return original(self, contacts, rejections)

    monkeypatch.setattr(ChunkWriter, "write", fail_on_third_chunk)
    with pytest.raises(RuntimeError):
        engine.run(contact_import, processes=1)
    contact_import.refresh_from_db()
    assert (contact_import.state, contact_import.last_committed_row, contact_import.rows_read) == ("failed", 7, 6)
    assert "Rows up to row 7 of the file are saved" in contact_import.error
    assert Contact.objects.count() == 6

    monkeypatch.setattr(ChunkWriter, "write", original)
    engine.run(contact_import, processes=1)
    contact_import.refresh_from_db()
    assert (contact_import.state, contact_import.rows_read, contact_import.created) == ("done", 11, 10)
    assert contact_import.duplicates == 1  # row 12 repeats row 3, committed in the first run
    assert Contact.objects.count() == 10
    assert ListMembership.objects.filter(contact_list=customers).count() == 10


def test_parsing_on_several_processes_keeps_file_order(tmp_path, settings):
    settings.CONTACT_IMPORT_CHUNK_ROWS = 4
    lines = [f"07123456{n:02d},Person {n}" for n in range(30)] + ["0712345600,Repeat"]
    path = write(tmp_path, "many.csv", "phone,name\n" + "\n".join(lines) + "\n")
    result = engine.run(make_import(path), processes=2)
    assert (result.created, result.duplicates) == (30, 1)
    assert result.rejections.get().reason.startswith("duplicate of row 2 ")
    assert Contact.objects.get(phone="+254712345600").name == "Person 0"


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n  \n", "no rows"),
        ("header.csv", b"phone,name\n", "no contacts under it"),
        ("report.pdf", b"%PDF-1.4 ...", "not a file we can import"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n....", "a PNG image"),
        ("binary.csv", bytes(range(256)) * 4, "binary data"),
        ("broken.xlsx", b"PK\x03\x04 not really a zip", "cannot be opened as an Excel workbook"),
    ],
)
def test_files_that_cannot_be_imported_say_why(tmp_path, name, content, words):
    path = write(tmp_path, name, content)
    with pytest.raises(ImportFileError, match=words):
        make_import(path)


def test_a_file_that_stops_halfway_reports_the_cut_row_and_keeps_the_rest(tmp_path):
    path = write(tmp_path, "cut.csv", 'phone,name\n0712345678,Ann\n0712345679,"Bob Sm')
    result = import_file(path)
    assert (result.created, result.invalid) == (1, 1)
    assert "stops in the middle of this row" in result.rejections.get().reason


def test_preview_counts_without_writing(tmp_path, make_contact):
    make_contact("+254712345678", "Ann")
    path = write(
        tmp_path, "p.csv", "phone,name\n0712345678,Ann\n0712345679,<script>x</script>\n0712345679,Dup\nbad,Bad\n"
    )
    contact_import = make_import(path)
    preview = engine.build_preview(contact_import)
    assert {k: preview[k] for k in ("rows_read", "new", "updated", "duplicates", "invalid")} == {
        "rows_read": 4,
        "new": 1,
        "updated": 1,
        "duplicates": 1,
        "invalid": 1,
    }
    assert [reason["row"] for reason in preview["reasons"]] == [4, 5]
    assert preview["short_rows"] == 0
    assert Contact.objects.count() == 1


def test_report_cells_that_look_like_formulas_are_neutralised():
    assert [safe_cell(v) for v in ["=1+1", "+254", "-2", "@SUM", "\tx", "Ann"]] == [
        "'=1+1",
        "'+254",
        "'-2",
        "'@SUM",
        "'\tx",
        "Ann",
    ]
