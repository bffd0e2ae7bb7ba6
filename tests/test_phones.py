import pytest
from django.core.exceptions import ValidationError

from contacts.phones import normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+447911123456", "+447911123456"),
        ("447911123456", "+447911123456"),
        ("+44 7911 123456", "+447911123456"),
        ("whatsapp:+14155552671", "+14155552671"),
        ("(415) 555-2671", "+14155552671"),
    ],
)
def test_numbers_are_normalised_to_e164(raw, expected):
    assert normalise_phone(raw, region="US") == expected


@pytest.mark.parametrize("raw", ["", "hello", "+1234", None, 12345, "+44791112345645678"])
def test_a_bad_number_is_refused_naming_the_field_and_value(raw):
    with pytest.raises(ValidationError) as error:
        normalise_phone(raw, field="to")
    assert error.value.messages[0].startswith(f"to: {raw!r}")
