"""The forms of the contact import pages: the upload, then columns and options."""

from __future__ import annotations

from functools import cache

import phonenumbers
from django import forms
from django.conf import settings

from contacts.importing import columns, engine
from contacts.importing.reading import ACCEPTED
from contacts.models import ContactImport, ContactList


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Spreadsheet",
        help_text=f"{ACCEPTED} files, up to the size limit below. The first row must name the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPTED.replace(" ", "")}),
    )

    def clean_file(self):
        uploaded = self.cleaned_data["file"]
        limit = engine.max_upload_bytes()
        if uploaded.size > limit:
            raise forms.ValidationError(
                f"{uploaded.name!r} is {uploaded.size / 1024 / 1024:,.1f} MB; the largest file you can import is "
                f"{limit // 1024 // 1024} MB. Split it into smaller files, or remove columns you do not need."
            )
        if uploaded.size == 0:
            raise forms.ValidationError(f"{uploaded.name!r} is empty.")
        return uploaded


NOT_IN_ISO = {"XK": "Kosovo", "AC": "Ascension Island", "TA": "Tristan da Cunha"}  # regions of phonenumbers only


@cache
def region_choices() -> list[tuple[str, str]]:
    """Every country phonenumbers knows, by name, with its calling code: "Kenya (+254, KE)".

    The names come from pycountry (ISO 3166), imported here: phonenumbers' own names sit in its
    geocoder, which loads 100 MB of place names into every process that imports this module.
    """
    import pycountry

    choices = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        country = pycountry.countries.get(alpha_2=region)
        name = (getattr(country, "common_name", None) or country.name) if country else NOT_IN_ISO.get(region, region)
        code = phonenumbers.country_code_for_region(region)
        choices.append((region, f"{name} (+{code}, {region})"))
    return sorted(choices, key=lambda choice: choice[1])


class OptionsForm(forms.Form):
    """Where the contacts go and how to read their numbers; the mapping fields are added per column."""

    target_list = forms.ModelChoiceField(
        queryset=ContactList.objects.order_by("name"),
        required=False,
        label="Add them to the list",
        empty_label="— no existing list —",
    )
    new_list_name = forms.CharField(required=False, max_length=200, label="or to a new list named")
    region = forms.ChoiceField(label="Country of numbers without a country code")
    existing = forms.ChoiceField(
        choices=ContactImport.Existing.choices,
        widget=forms.RadioSelect,
        label="Numbers we already have",
    )

    def __init__(self, *args, contact_import: ContactImport, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.contact_import = contact_import
        self.fields["region"].choices = region_choices()
        role_choices = list(columns.ROLES.items())
        for position, entry in enumerate(contact_import.mapping):
            self.fields[f"column_{position}"] = forms.ChoiceField(
                choices=role_choices, initial=entry["role"], label=entry["column"] or f"Column {position + 1}"
            )

    def column_fields(self) -> list:
        return [self[f"column_{position}"] for position in range(len(self.contact_import.mapping))]

    def clean_new_list_name(self) -> str:
        name = " ".join(self.cleaned_data["new_list_name"].split())
        if name and ContactList.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError(f"A list named {name!r} already exists: choose it above instead.")
        return name

    def clean(self) -> dict:
        data = super().clean()
        if data.get("target_list") and data.get("new_list_name"):
            raise forms.ValidationError("Choose an existing list or name a new one, not both.")
        mapping = self.mapping()
        for problem in columns.mapping_problems(mapping):
            self.add_error(None, problem)
        return data

    def mapping(self) -> list[dict]:
        given = [
            {**entry, "role": self.cleaned_data.get(f"column_{position}", entry["role"])}
            for position, entry in enumerate(self.contact_import.mapping)
        ]
        return columns.with_keys(given)

    @classmethod
    def initial_for(cls, contact_import: ContactImport) -> dict:
        return {
            "target_list": contact_import.target_list_id,
            "new_list_name": contact_import.new_list_name,
            "region": contact_import.region or settings.DEFAULT_PHONE_REGION,
            "existing": contact_import.existing,
        }
