"""A contact's timeline on their page: messages both ways, with status, channel and campaign, and the
number's opt-outs and opt-ins, newest first (campaigns/conversations/timeline.py reads them).

The contact's page shows the latest PANEL_SIZE entries (a panel registered with the contacts app,
which may not import campaigns: contacts/admin/panels.py); "Older" opens the timeline's own page,
/admin/contacts/contact/<id>/timeline/, PAGE_SIZE entries a page, keyset-paginated. Both need the
permission to view contacts and to view messages (Marketing has both).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import urlencode

from campaigns.conversations import timeline
from campaigns.models import Campaign, OutboundMessage
from campaigns.models.staff import zone_label
from contacts.admin.panels import ContactPanel, add_contact_panel
from contacts.models import Contact
from messaging_site.permissions import denied, model_perm

PANEL_SIZE = 20
PAGE_SIZE = 50
TEXT_SHOWN = 400  # characters of a message's text; the message log and the inbox show it whole
URL_NAME = "contacts_contact_timeline"


def may_see_messages(request: HttpRequest) -> bool:
    return request.user.has_perm(model_perm(OutboundMessage, "view"))


def local(moment) -> str:
    """A time in the viewer's zone, its abbreviation named: 07 Dec 2026 08:15 EAT."""
    return timezone.localtime(moment).strftime("%d %b %Y %H:%M %Z") if moment else ""


class Links:
    """Admin URLs for a page of entries, each reversed once and then filled in."""

    def __init__(self, request: HttpRequest) -> None:
        self.campaign = self._prefix("admin:campaigns_campaign_change", request, model_perm(Campaign, "view"))
        self.bulk_job = self._prefix("admin:campaigns_bulkjob_change", request, "campaigns.view_bulkjob")
        self.message = self._prefix(
            "admin:campaigns_outboundmessage_change", request, model_perm(OutboundMessage, "view")
        )
        # The inbox's conversation page (campaigns/admin/inbox.py), where there is one.
        self.conversation = self._prefix("admin:campaigns_conversation_change", request, "campaigns.view_conversation")
        self.consent = self._prefix("admin:contacts_consent_change", request, "contacts.view_consent")

    @staticmethod
    def _prefix(name: str, request: HttpRequest, perm: str) -> str:
        if not request.user.has_perm(perm):
            return ""
        try:
            return reverse(name, args=[0]).replace("/0/", "/{}/")
        except NoReverseMatch:
            return ""

    @staticmethod
    def fill(prefix: str, pk: int | None) -> str:
        return prefix.format(pk) if prefix and pk else ""


def shown_entry(entry: timeline.Entry, links: Links) -> dict:
    """What the template needs for one entry, with its links and its time in the viewer's zone."""
    row = entry.fields
    shown = {"kind": entry.kind, "at": local(entry.at), "iso": entry.at.isoformat()}
    if entry.kind == timeline.SENT:
        shown.update(
            text=row["body"][:TEXT_SHOWN] or template_words(row["template"]),
            media=row["media_urls"],
            status=row["status"],
            status_label=OutboundMessage.Status(row["status"]).label,
            error=" ".join(filter(None, [row["error_code"], row["error_message"]])),
            channel=row["channel__name"],
            campaign=row["campaign__name"],
            campaign_url=campaign_url(row, links),
            url=links.fill(links.message, row["id"]),
            delivered=local(row["delivered_at"]),
            send_at=local(row["send_at"]) if row["status"] == OutboundMessage.Status.SCHEDULED else "",
        )
    elif entry.kind == timeline.RECEIVED:
        shown.update(
            text=row["text"][:TEXT_SHOWN],
            media=[item.get("url", "") for item in row["media"] if isinstance(item, dict)],
            keyword=row["keyword"],
            channel=row["channel__name"],
            campaign=row["campaign__name"],
            campaign_url=campaign_url(row, links),
            url=links.fill(links.conversation, row["conversation_id"]),
        )
    elif entry.kind == timeline.CONSENT:
        shown.update(row, confirmed=local(row["confirmed_at"]), url=links.fill(links.consent, row["consent_id"]))
    else:
        shown.update(row, lifted_at=local(row.get("lifted_at")))
    return shown


def campaign_url(row: dict, links: Links) -> str:
    kind = row.get("campaign__kind")
    return links.fill(links.bulk_job if kind == Campaign.Kind.BULK_API else links.campaign, row["campaign_id"])


def template_words(template: dict | None) -> str:
    if not template:
        return ""
    return f"Template {template.get('name') or template.get('id') or ''}".strip()


def page_context(request: HttpRequest, contact: Contact, position: timeline.Position, size: int) -> dict:
    found = timeline.page(contact, position, size=size)
    links = Links(request)
    url = reverse(f"admin:{URL_NAME}", args=[contact.pk])
    return {
        "contact": contact,
        "entries": [shown_entry(entry, links) for entry in found.entries],
        "older_url": f"{url}?{urlencode(found.older.as_query())}" if found.older else "",
        "newest_url": "" if position.is_newest else url,
        "timeline_url": url,
        "time_zone_name": zone_label(),
        "size": size,
    }


def render_panel(request: HttpRequest, contact: Contact) -> str:
    """The latest entries, on the contact's page."""
    if not may_see_messages(request):
        return render_to_string("admin/campaigns/timeline/hidden.html", {}, request=request)
    context = page_context(request, contact, timeline.Position(), PANEL_SIZE)
    return render_to_string("admin/campaigns/timeline/panel.html", context, request=request)


def timeline_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The timeline's own page, under the contact's URL (ContactAdmin.get_urls)."""

    def view(request: HttpRequest, contact_id: int) -> HttpResponse:
        contact = get_object_or_404(Contact, pk=contact_id)
        if not model_admin.has_view_permission(request, contact):
            raise denied(model_perm(Contact, "view"), "see a contact's messages")
        if not may_see_messages(request):
            raise denied(model_perm(OutboundMessage, "view"), "see a contact's messages")
        try:
            position = timeline.Position.from_query(request.GET)
        except timeline.BadPosition as error:
            return HttpResponseBadRequest(str(error))
        context = {
            **model_admin.admin_site.each_context(request),
            **page_context(request, contact, position, PAGE_SIZE),
            "opts": Contact._meta,
            "title": f"Messages and opt-outs of {contact}",
        }
        return TemplateResponse(request, "admin/campaigns/timeline/page.html", context)

    return [path("<int:contact_id>/timeline/", model_admin.admin_site.admin_view(view), name=URL_NAME)]


add_contact_panel(ContactPanel(name="timeline", render=render_panel, urls=timeline_urls))
