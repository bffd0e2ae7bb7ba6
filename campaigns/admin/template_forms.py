"""The message template form: text, media, and a WhatsApp provider template as rows, not JSON.

A provider template is stored in the shape the API takes and the providers send
(campaigns/api/validation.py, providers/twilio/provider.py, providers/gupshup/provider.py):

    Twilio Content:  {"id": "HX<32 hex>", "variables": {"1": "{{ first_name }}", "2": "fixed"}}
    Gupshup:         {"id": "<template id>", "variables": {"MEDIA_URL": "https://...",
                      "Header": {"1": ...}, "Body": {"1": ..., "2": ...}, "Buttons": {"1": ...}}}

Staff never see that JSON: each variable is a row saying where its value comes from, a contact
field (with what to put when the contact has none) or a fixed value. A row's value is stored as a
placeholder, ``{{ city|default:"there" }}``, which the send pipeline renders per recipient like
the message text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from campaigns.api.validation import CONTENT_SID, PROVIDER_TEMPLATE_ID
from campaigns.content.contact_fields import contact_field_names
from campaigns.content.personalisation import PLACEHOLDER, compile_text
from campaigns.models import MessageTemplate, OutboundMessage
from contacts.models import Contact

TWILIO, GUPSHUP = "twilio", "gupshup"
PROVIDER_KINDS = [
    ("", "None: the text above (SMS, or WhatsApp within a 24-hour conversation)"),
    (TWILIO, "Twilio Content template (WhatsApp)"),
    (GUPSHUP, "Gupshup template (WhatsApp)"),
]
VARIABLE, MEDIA, HEADER, BODY, BUTTONS = "variable", "media", "header", "body", "buttons"
PART_LABELS = {VARIABLE: "Variable", MEDIA: "Media URL", HEADER: "Header", BODY: "Body", BUTTONS: "Buttons"}
# Gupshup's keys in "variables", and the order its "params" take them.
GUPSHUP_KEYS = {MEDIA: "MEDIA_URL", HEADER: "Header", BODY: "Body", BUTTONS: "Buttons"}
FIELD, FIXED = "field", "fixed"
MAX_POSITION = 99
SINGLE_PLACEHOLDER = re.compile(r"\s*{{(.*?)}}\s*", re.DOTALL)
_http_url = URLValidator(schemes=["http", "https"])


@dataclass
class Variable:
    """One provider template variable: where it sits and where its value comes from."""

    part: str
    position: int | None
    source: str
    field: str = ""
    fallback: str = ""
    value: str = ""

    @property
    def label(self) -> str:
        if self.part == MEDIA:
            return "Media URL"
        prefix = "" if self.part == VARIABLE else PART_LABELS[self.part] + " "
        return f"{prefix}{{{{{self.position}}}}}"

    def stored(self) -> str:
        """The value as the pipeline renders it: a placeholder for a contact field, else the text."""
        if self.source == FIXED:
            return self.value
        if not self.fallback:
            return f"{{{{ {self.field} }}}}"
        quote = "'" if '"' in self.fallback else '"'
        return f"{{{{ {self.field}|default:{quote}{self.fallback}{quote} }}}}"


def variable_from_stored(part: str, position: int | None, value: object) -> Variable:
    """A stored value read back as a row: one lone placeholder is a contact field, anything else fixed."""
    text = "" if value is None else str(value)
    whole = SINGLE_PLACEHOLDER.fullmatch(text)
    match = PLACEHOLDER.match(whole.group(1)) if whole else None
    if match is None:
        return Variable(part, position, FIXED, value=text)
    fallback = next((match.group(g) for g in ("dq", "sq", "bare") if match.group(g) is not None), "")
    return Variable(part, position, FIELD, field=match.group("name"), fallback=fallback)


def _position(key: object) -> int | None:
    text = str(key)
    return int(text) if text.isascii() and text.isdigit() else None


def read_provider_template(template: object) -> tuple[str, str, list[Variable]]:
    """A stored provider template as (kind, id, rows); ("", "", []) when there is none."""
    if not isinstance(template, dict) or not template.get("id"):
        return "", "", []
    template_id = str(template["id"])
    variables = template.get("variables") or {}
    if not isinstance(variables, dict):
        variables = {}
    nested = any(key in variables for key in GUPSHUP_KEYS.values())
    if nested or (not CONTENT_SID.fullmatch(template_id) and not variables):
        return GUPSHUP, template_id, _gupshup_rows(variables)
    rows = [variable_from_stored(VARIABLE, _position(k), v) for k, v in variables.items()]
    return TWILIO, template_id, sorted(rows, key=lambda row: row.position or 0)


def _gupshup_rows(variables: dict) -> list[Variable]:
    rows = []
    if variables.get("MEDIA_URL"):
        rows.append(variable_from_stored(MEDIA, None, variables["MEDIA_URL"]))
    for part in (HEADER, BODY, BUTTONS):
        values = variables.get(GUPSHUP_KEYS[part]) or {}
        if isinstance(values, dict):
            numbered = sorted(values.items(), key=lambda item: _position(item[0]) or 0)
            rows.extend(variable_from_stored(part, _position(k), v) for k, v in numbered)
    return rows


def build_provider_template(kind: str, template_id: str, rows: list[Variable]) -> dict | None:
    """The stored shape for these rows (see the module's docstring); None when kind is empty."""
    if not kind:
        return None
    if kind == TWILIO:
        return {"id": template_id, "variables": {str(row.position): row.stored() for row in rows}}
    variables: dict[str, object] = {}
    for row in rows:
        if row.part == MEDIA:
            variables["MEDIA_URL"] = row.stored()
        else:
            variables.setdefault(GUPSHUP_KEYS[row.part], {})[str(row.position)] = row.stored()
    return {"id": template_id, "variables": variables}


class VariableForm(forms.Form):
    """One row of the provider template's variables."""

    part = forms.ChoiceField(label="Part", choices=list(PART_LABELS.items()), initial=BODY)
    position = forms.IntegerField(
        label="Number", required=False, min_value=1, max_value=MAX_POSITION, widget=forms.NumberInput(attrs={"size": 3})
    )
    source = forms.ChoiceField(
        label="Filled from", choices=[(FIELD, "a contact field"), (FIXED, "a fixed value")], initial=FIELD
    )
    field = forms.ChoiceField(label="Contact field", required=False)
    fallback = forms.CharField(
        label="If the contact has none", required=False, max_length=200, widget=forms.TextInput(attrs={"size": 14})
    )
    value = forms.CharField(label="Fixed value", required=False, max_length=1024, widget=forms.TextInput())

    def __init__(self, *args, field_names: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = list(field_names or [])
        current = self.initial.get("field") or (self.data.get(self.add_prefix("field")) if self.is_bound else "")
        if current and current not in names:
            names.append(current)  # a field no recent contact has: still shown, flagged by the preview
        self.fields["field"].choices = [("", "choose a field")] + [(name, name) for name in names]

    def clean_fallback(self) -> str:
        fallback = self.cleaned_data["fallback"]
        if "{{" in fallback or "}}" in fallback or ('"' in fallback and "'" in fallback):
            raise ValidationError(
                f"If the contact has none: {fallback!r} cannot hold {{{{, }}}} or both kinds of quote."
            )
        return fallback

    def clean(self) -> dict:
        data = super().clean()
        if data.get("source") == FIELD and not data.get("field"):
            self.add_error("field", "Choose the contact field this variable is filled from.")
        if data.get("source") == FIXED and not str(data.get("value") or "").strip():
            self.add_error("value", "Type the fixed value, or fill it from a contact field.")
        if data.get("part") != MEDIA and not data.get("position"):
            self.add_error("position", "Give the variable's number, e.g. 1 for {{1}}.")
        return data

    def variable(self) -> Variable:
        data = self.cleaned_data
        return Variable(
            part=data["part"],
            position=None if data["part"] == MEDIA else data.get("position"),
            source=data["source"],
            field=data.get("field") or "",
            fallback=data.get("fallback") or "",
            value=data.get("value") or "",
        )


class BaseVariableFormSet(forms.BaseFormSet):
    def variables(self) -> list[Variable]:
        """The rows kept: not deleted, and not a blank row added and left empty."""
        kept = []
        for index, form in enumerate(self.forms):
            blank = index >= self.initial_form_count() and not form.has_changed()
            if not blank and not self._should_delete_form(form) and form.is_valid():
                kept.append(form.variable())
        return kept


VariableFormSet = forms.formset_factory(VariableForm, formset=BaseVariableFormSet, extra=0, can_delete=True)


def preview_contact_widget() -> AutocompleteSelect:
    """Django's contact search (select2), borrowed from the message log's contact field."""
    return AutocompleteSelect(OutboundMessage._meta.get_field("contact"), admin.site)


class MessageTemplateForm(forms.ModelForm):
    provider_kind = forms.ChoiceField(
        label="Provider template", choices=PROVIDER_KINDS, required=False, widget=forms.RadioSelect
    )
    provider_template_id = forms.CharField(
        label="Template id",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"size": 40, "spellcheck": "false"}),
        help_text="Twilio: the Content SID, HX followed by 32 hexadecimal digits. "
        "Gupshup: the template's id from the Gupshup console.",
    )
    preview_contact = forms.ModelChoiceField(
        Contact.objects.all(),
        required=False,
        label="Preview for",
        help_text="Choose a contact to see their message and count its real length. Not saved.",
    )

    class Meta:
        model = MessageTemplate
        fields = ["name", "body", "media_url"]
        widgets = {"body": forms.Textarea(attrs={"rows": 5, "cols": 80, "spellcheck": "true"})}
        labels = {"body": "Text", "media_url": "Media URL"}
        help_texts = {
            "body": "Placeholders: {{ name }}, {{ first_name }}, {{ phone }}, any contact field, and a default "
            'for contacts without one: {{ city|default:"there" }}.',
            "media_url": "An image, video or file sent with the text (http or https; not on SMS-only channels).",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        contact = self.fields["preview_contact"]
        contact.widget = preview_contact_widget()  # needs the admin site, so not at import time
        contact.widget.choices = contact.choices
        kind, template_id, rows = read_provider_template(self.instance.provider_template if self.instance else None)
        self.fields["provider_kind"].initial = kind
        self.fields["provider_template_id"].initial = template_id
        self.field_names = contact_field_names()
        self.variables = VariableFormSet(
            self.data if self.is_bound else None,
            prefix="variables",
            initial=[row.__dict__ for row in rows],
            form_kwargs={"field_names": self.field_names},
        )

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and not self.variables.is_valid():
            self.add_error(None, "Check the provider template's variables below.")
            self.cleaned_data.pop("provider_template", None)

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        problems = compile_text(body).problems
        if problems:
            raise ValidationError([f"Text: {problem}" for problem in problems])
        return body

    def clean_media_url(self) -> str:
        url = self.cleaned_data["media_url"].strip()
        if url:
            try:
                _http_url(url)
            except ValidationError:
                raise ValidationError(f"Media URL: {url!r} is not an http(s) address a provider can fetch.") from None
        return url

    def clean_provider_template_id(self) -> str:
        return self.cleaned_data["provider_template_id"].strip()

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("provider_kind") or ""
        template_id = data.get("provider_template_id") or ""
        rows = self.variables.variables() if self.variables.is_valid() else []
        problems = provider_template_problems(kind, template_id, rows)
        for problem in problems:
            self.add_error(problem.field, problem.message)
        if not problems:
            self.instance.provider_template = build_provider_template(kind, template_id, rows)
        if not (data.get("body") or data.get("media_url") or kind):
            self.add_error("body", "A template needs text, a media URL or a provider template.")
        return data


@dataclass
class Problem:
    field: str | None
    message: str


def provider_template_problems(kind: str, template_id: str, rows: list[Variable]) -> list[Problem]:
    """What is wrong with a provider template, each naming the field and the value."""
    if not kind:
        return []  # "None" chosen: rows left from another choice are dropped, not kept
    problems = _id_problems(kind, template_id)
    parts = {VARIABLE} if kind == TWILIO else {MEDIA, HEADER, BODY, BUTTONS}
    seen: dict[tuple[str, int | None], Variable] = {}
    for row in rows:
        if row.part not in parts:
            allowed = ", ".join(PART_LABELS[part] for part in sorted(parts))
            problems.append(Problem(None, f"{row.label}: a {dict(PROVIDER_KINDS)[kind]} takes {allowed} rows."))
        elif (row.part, row.position) in seen:
            problems.append(Problem(None, f"{row.label}: given twice; keep one row for it."))
        seen[(row.part, row.position)] = row
        if row.part == MEDIA and row.source == FIXED:
            try:
                _http_url(row.value)
            except ValidationError:
                problems.append(Problem(None, f"Media URL: {row.value!r} is not an http(s) address."))
    problems.extend(_gaps(rows))
    return problems


def _id_problems(kind: str, template_id: str) -> list[Problem]:
    if not template_id:
        return [Problem("provider_template_id", "Template id: give the provider's template id.")]
    if kind == TWILIO and not CONTENT_SID.fullmatch(template_id):
        return [
            Problem(
                "provider_template_id",
                f"Template id: {template_id!r} is not a Twilio Content SID (HX followed by 32 hexadecimal digits).",
            )
        ]
    if kind == GUPSHUP and not PROVIDER_TEMPLATE_ID.fullmatch(template_id):
        return [
            Problem(
                "provider_template_id",
                f"Template id: {template_id!r} is not a Gupshup template id (letters, digits, - _ . : only).",
            )
        ]
    return []


def _gaps(rows: list[Variable]) -> list[Problem]:
    """Numbered variables must run 1, 2, 3...: the provider fills them by position."""
    problems = []
    for part in (VARIABLE, HEADER, BODY, BUTTONS):
        numbers = sorted({row.position for row in rows if row.part == part and row.position})
        missing = [n for n in range(1, (numbers[-1] if numbers else 0) + 1) if n not in numbers]
        if missing:
            where = "" if part == VARIABLE else PART_LABELS[part] + " "
            listed = ", ".join(f"{where}{{{{{n}}}}}" for n in missing)
            problems.append(Problem(None, f"{listed}: missing; the template's variables are numbered from 1."))
    return problems
