"""Message templates in the admin: text with placeholders, a live preview for a chosen contact, an
SMS length counter, media, and WhatsApp provider templates with their variables as form rows."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from campaigns.admin.template_forms import (
    GUPSHUP,
    TWILIO,
    MessageTemplateForm,
    VariableFormSet,
    read_provider_template,
)
from campaigns.content.contact_fields import contact_field_names
from campaigns.content.personalisation import compile_text, contact_context
from campaigns.content.segments import browser_tables, count_segments
from campaigns.models import MessageTemplate
from contacts.admin.deletion import BoundedDeletion
from contacts.models import Contact
from messaging_site.permissions import denied, model_perm

PREVIEW_TEXT_LIMIT = 10_000


@admin.register(MessageTemplate)
class MessageTemplateAdmin(BoundedDeletion, admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ["name", "short_body", "kind", "sms_size", "updated_at"]
    search_fields = ["name", "body"]
    change_form_template = "admin/campaigns/messagetemplate/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "body", "preview_contact", "media_url"]}),
        (
            "WhatsApp provider template",
            {
                "fields": ["provider_kind", "provider_template_id"],
                "description": "Outside a 24-hour conversation WhatsApp only delivers templates the provider "
                "approved. Choose one and say where each of its numbered variables comes from.",
            },
        ),
    ]

    class Media:
        js = [
            "js/template_segments.js",
            "js/live_preview.js",
            "js/variable_rows.js",
            "js/template_editor.js",
        ]
        css = {"all": ["css/template_editor.css"]}

    @admin.display(description="Text")
    def short_body(self, template: MessageTemplate) -> str:
        return Truncator(template.body).chars(80) or "-"

    @admin.display(description="Kind")
    def kind(self, template: MessageTemplate) -> str:
        provider_kind, template_id, _ = read_provider_template(template.provider_template)
        if provider_kind == TWILIO:
            return f"Twilio template {template_id}"
        if provider_kind == GUPSHUP:
            return f"Gupshup template {template_id}"
        return "Text with media" if template.media_url else "Text"

    @admin.display(description="SMS length")
    def sms_size(self, template: MessageTemplate) -> str:
        """Counted with placeholders empty, as a guide; the campaign page counts real messages."""
        if not template.body:
            return "-"
        count = count_segments(compile_text(template.body).render({}))
        plural = "" if count.segments == 1 else "s"
        return f"{count.segments} segment{plural} ({count.encoding})"

    def get_urls(self):
        preview = path(
            "preview/",
            self.admin_site.admin_view(require_POST(self.preview_view)),
            name="campaigns_messagetemplate_preview",
        )
        return [preview, *super().get_urls()]

    def render_change_form(self, request, context, *args, **kwargs):
        form = context["adminform"].form
        context.update(segment_tables=browser_tables(), contact_fields=form.field_names, variables=form.variables)
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request, obj: MessageTemplate, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        unknown = compile_text(obj.body).unknown(form.field_names)
        if unknown:
            listed = ", ".join(f"{{{{ {name} }}}}" for name in unknown)
            self.message_user(
                request,
                f"No contact has {listed} yet: check the spelling, or import contacts with that column. "
                "Until then it stays empty (or its default) in every message.",
                messages.WARNING,
            )

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """The message for one contact as the form stands now (nothing is saved)."""
        if not self.has_view_permission(request):
            raise denied(model_perm(self.model, "view"), "preview a template")
        return JsonResponse(preview(request))


def preview(request: HttpRequest) -> dict[str, object]:
    body = request.POST.get("body", "")[:PREVIEW_TEXT_LIMIT]
    contact = _chosen_contact(request)
    context = contact_context(contact) if contact else {}
    compiled = compile_text(body)
    text = compiled.render(context)
    field_names = contact_field_names()
    return {
        "contact": (contact.name.strip() or contact.phone) if contact else "",
        "context": {key: "" if value is None else str(value) for key, value in context.items()},
        "text": text,
        "count": count_segments(text).as_dict(),
        "missing": compiled.missing(context) if contact else [],
        "unknown": compiled.unknown(field_names),
        "problems": list(compiled.problems),
        "variables": _variables_preview(request, context, field_names),
    }


def _chosen_contact(request: HttpRequest) -> Contact | None:
    chosen = request.POST.get("preview_contact", "")
    if not chosen.isdigit() or not request.user.has_perm("contacts.view_contact"):
        return None
    return Contact.objects.filter(pk=int(chosen)).first()


def _variables_preview(request: HttpRequest, context: dict, field_names: list[str]) -> list[dict[str, object]]:
    """Each provider template variable as this contact would get it."""
    if not request.POST.get("provider_kind"):
        return []
    formset = VariableFormSet(request.POST, prefix="variables", form_kwargs={"field_names": field_names})
    if not formset.is_valid():
        return []
    shown = []
    for row in formset.variables():
        compiled = compile_text(row.stored())
        shown.append(
            {
                "label": row.label,
                "value": compiled.render(context),
                "lacking": bool(context) and bool(compiled.missing(context)),
            }
        )
    return shown
