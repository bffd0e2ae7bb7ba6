"""The campaign form's WhatsApp template picker: an approved synced template chosen by name and language,
its variables as rows (a contact field or a fixed value, as on the message template page), the rules
of the template said before saving, and a preview as the phone shows it (campaigns/whatsapp/preview.py).

A channel whose templates were never synced still takes a template id typed in (as before syncing
existed); once synced, only approved listed templates go. The choice is stored as the campaign's
provider_template, in the shape the API takes (campaigns/admin/template_forms.py).
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest

from campaigns.admin.template_forms import (
    FIXED,
    GUPSHUP,
    MEDIA,
    TWILIO,
    VariableFormSet,
    build_provider_template,
    preview_contact_widget,
    provider_template_problems,
    read_provider_template,
)
from campaigns.content.contact_fields import contact_field_names
from campaigns.content.personalisation import compile_text, contact_context
from campaigns.models import TemplateSync, WhatsAppTemplate
from campaigns.whatsapp.checks import template_refusal
from campaigns.whatsapp.preview import needed_rows, phone_preview, row_label, template_rules
from contacts.models import Contact
from providers.models import Channel

INCOMPLETE = "Some rows are not complete: each needs a contact field or a fixed value, and a number."
KINDS = {"twlowa": TWILIO, "gswa": GUPSHUP}  # the WhatsApp providers and their template shapes


class TemplateChoice(forms.Select):
    """Each option says its channel, so the page offers only the chosen channel's templates."""

    def create_option(self, *args, **kwargs):  # Django's signature: name, value, label, selected, index...
        option = super().create_option(*args, **kwargs)
        value = args[1] if len(args) > 1 else kwargs.get("value")
        template = getattr(value, "instance", None)
        if template is not None:
            option["attrs"]["data-channel"] = str(template.channel_id)
        return option


class TemplateChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, template: WhatsAppTemplate) -> str:
        language = f" · {template.language}" if template.language else ""
        return f"{template.name}{language} ({template.category.lower() or 'no category'})"


def usable_templates():
    """Approved templates still listed, of active WhatsApp channels, by name and language."""
    return (
        WhatsAppTemplate.objects.filter(status="approved", missing_since__isnull=True, channel__is_active=True)
        .select_related("channel")
        .order_by("name", "language")
    )


def whatsapp_channels() -> dict[str, dict]:
    """The page's map of active WhatsApp channels: their template shape, and whether a sync has worked."""
    synced = set(TemplateSync.objects.filter(last_worked_at__isnull=False).values_list("channel_id", flat=True))
    return {
        str(pk): {"kind": KINDS[provider], "synced": pk in synced}
        for pk, provider in Channel.objects.filter(is_active=True, provider__in=list(KINDS)).values_list(
            "pk", "provider"
        )
    }


def template_field() -> TemplateChoiceField:
    return TemplateChoiceField(
        WhatsAppTemplate.objects.none(),  # usable_templates() once the form is made: it changes with each sync
        required=False,
        label="WhatsApp template",
        widget=TemplateChoice,
        empty_label="None: send the text above",
        help_text="Approved templates synced from the channel's provider, by name and language. Outside a "
        "24-hour conversation WhatsApp delivers only these.",
    )


def template_id_field() -> forms.CharField:
    return forms.CharField(
        label="Template id",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"size": 40, "spellcheck": "false"}),
        help_text="Only for a WhatsApp channel whose templates have never been synced: Twilio's Content SID "
        "(HX and 32 hexadecimal digits) or Gupshup's template id.",
    )


def preview_contact_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        Contact.objects.all(),
        required=False,
        label="Preview for",
        help_text="Choose a contact to see the template filled with their values; without one, the "
        "template's sample values are shown. Not saved.",
    )


def set_up_picker(form: forms.ModelForm) -> None:
    """Fill the picker's fields from the campaign's provider template; its variables as rows."""
    form.fields["whatsapp_template"].queryset = usable_templates()
    contact = form.fields["preview_contact"]
    contact.widget = preview_contact_widget()  # needs the admin site, so not at import time
    contact.widget.choices = contact.choices
    _, template_id, rows = read_provider_template(form.instance.provider_template if form.instance else None)
    if template_id:
        chosen = usable_templates().filter(channel_id=form.instance.channel_id, provider_id=template_id).first()
        if chosen is not None:
            form.initial["whatsapp_template"] = chosen.pk
        else:
            form.initial["provider_template_id"] = template_id
    form.field_names = contact_field_names()
    # A post without the picker (an older page, a script) leaves the campaign's template as it was.
    form.picker_posted = form.is_bound and any(
        name in form.data for name in ("whatsapp_template", "provider_template_id", "variables-TOTAL_FORMS")
    )
    form.variables = VariableFormSet(
        form.data if form.picker_posted else None,
        prefix="variables",
        initial=[row.__dict__ for row in rows],
        form_kwargs={"field_names": form.field_names},
    )


def clean_picker(form: forms.ModelForm, data: dict) -> None:
    """Check the chosen template against its channel and its variables; store it as provider_template."""
    channel: Channel | None = data.get("channel")
    chosen: WhatsAppTemplate | None = data.get("whatsapp_template")
    typed = (data.get("provider_template_id") or "").strip()
    if not form.picker_posted:
        return
    if form.variables.is_bound and not form.variables.is_valid():
        form.add_error(None, "Check the WhatsApp template's variables below.")
        return
    if chosen is None and not typed:
        form.instance.provider_template = None
        return
    kind = KINDS.get(channel.provider) if channel else None
    if channel is None or kind is None:
        where = f"the channel {channel.name!r} is not WhatsApp" if channel else "no channel is chosen"
        form.add_error("whatsapp_template" if chosen else "provider_template_id", f"WhatsApp template: {where}.")
        return
    if chosen is not None and chosen.channel_id != channel.pk:
        form.add_error(
            "whatsapp_template",
            f"WhatsApp template: “{chosen}” belongs to {chosen.channel.name!r}, not to {channel.name!r}; "
            "choose one of this channel's templates.",
        )
        return
    template_id = chosen.provider_id if chosen else typed
    if chosen is None and (refusal := template_refusal(channel, {"id": typed})):
        form.add_error("provider_template_id", f"Template id: {refusal} Choose it from the list above instead.")
        return
    rows = form.variables.variables() if form.variables.is_bound else []
    problems = provider_template_problems(kind, template_id, rows)
    if chosen is not None:
        problems_words = [p.message for p in problems] + missing_rows(chosen, rows)
    else:
        problems_words = [p.message for p in problems]
    for problem in problems_words:
        form.add_error(None, problem)
    if not problems_words:
        form.instance.provider_template = build_provider_template(kind, template_id, rows)
    template = data.get("template")
    if kind == GUPSHUP and template is not None and template.media_url:
        form.add_error(
            "template",
            f"Message template: “{template}” has a media URL, which Gupshup does not send with a WhatsApp "
            "template; put the address in the template's “Media URL” row instead, or choose no message template.",
        )


def missing_rows(template: WhatsAppTemplate, rows) -> list[str]:
    """Each variable the template has and no row fills, in staff words."""
    have = {(row.part, row.position if row.part != MEDIA else None) for row in rows}
    missing = [row_label(part, number) for part, number in needed_rows(template) if (part, number) not in have]
    if not missing:
        return []
    return [
        f"{', '.join(missing)}: “{template}” needs {'a value' if len(missing) == 1 else 'values'} for "
        f"{'it' if len(missing) == 1 else 'them'}; add a row for each, filled from a contact field or fixed."
    ]


# --- the live preview -----------------------------------------------------------------------------


def template_preview(request: HttpRequest) -> dict[str, object]:
    """The chosen template as the phone shows it, filled from a chosen contact (or its samples), and its rules."""
    chosen = request.POST.get("whatsapp_template", "")
    template = usable_templates().filter(pk=int(chosen)).first() if chosen.isdigit() else None
    if template is None:
        return {"template": None}
    field_names = contact_field_names()
    contact = _chosen_contact(request)
    context = contact_context(contact) if contact else {}
    formset = VariableFormSet(request.POST, prefix="variables", form_kwargs={"field_names": field_names})
    rows = formset.variables() if formset.is_valid() else []
    kind = KINDS.get(template.channel.provider, TWILIO)
    # Without a contact, a variable filled from a contact field shows the template's sample value.
    shown = rows if contact is not None else [row for row in rows if row.source == FIXED]
    values = (build_provider_template(kind, template.provider_id, shown) or {}).get("variables") or {}
    preview = phone_preview(template, _without_blanks(_rendered(values, context)), samples=contact is None)
    return {
        "template": {"id": template.provider_id, "name": template.name, "language": template.language},
        "contact": (contact.name.strip() or contact.phone) if contact else "",
        "preview": preview.as_dict(),
        "rules": template_rules(template),
        "needed": [{"part": part, "position": number} for part, number in needed_rows(template)],
        "missing": missing_rows(template, rows) if formset.is_valid() else [INCOMPLETE],
    }


def _chosen_contact(request: HttpRequest) -> Contact | None:
    chosen = request.POST.get("preview_contact", "")
    if not chosen.isdigit() or not request.user.has_perm("contacts.view_contact"):
        return None
    return Contact.objects.filter(pk=int(chosen)).first()


def _rendered(values: object, context: dict) -> object:
    if isinstance(values, dict):
        return {key: _rendered(value, context) for key, value in values.items()}
    return compile_text(values).render(context) if isinstance(values, str) else values


def _without_blanks(values: object) -> object:
    """Empty values dropped, so the preview shows the gap as {{n}} (or the sample) rather than nothing."""
    if isinstance(values, dict):
        return {key: _without_blanks(value) for key, value in values.items() if value not in ("", None)}
    return values
