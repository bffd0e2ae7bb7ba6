"""The inbox: every conversation with our channels, newest first, and each conversation's page.

The list is the Conversation changelist (filters by channel, campaign, unread and keyword replies; a
number's search), with "Mark read", "Mark done" and "Reopen" for ticked rows. A conversation's page
(its change view, replaced) shows the latest messages both ways with an "Older messages" link, a reply
box, and the same three verbs. Both pages poll a small JSON view every few seconds
(static/js/inbox.js), so new replies appear without a reload.

At a million replies: the list reads its 50 rows from one of the model's indexes in its only order
(newest first), counts exactly only up to 10,000 (then PostgreSQL's estimate), and counts no filter's
choices; a conversation page reads at most a page of each direction (campaigns/conversations/inbox.py).
"""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.text import Truncator

from campaigns.admin.campaign import method_require_post
from campaigns.admin.message_log import whole_number
from campaigns.conversations import inbox
from campaigns.models import Campaign, Conversation, OutboundMessage
from campaigns.models.staff import zone_label
from contacts.admin.filters import PHONE_LIKE, PHONE_PUNCTUATION
from contacts.admin.paging import EstimatedCountPaginator
from messaging_site.permissions import denied, model_perm, require

POLL_SECONDS = 5
CAMPAIGNS_OFFERED = 20  # the campaign filter offers the latest ones; any other is reachable by its id

SEARCH_HELP = "A whole number (+44 7911 123456, or 07911 123456), or the start of one (+44 7911)."


# --- the list's filters ----------------------------------------------------------------------------------


class UnreadFilter(admin.SimpleListFilter):
    title = "unread"
    parameter_name = "unread"

    def lookups(self, request, model_admin):
        return [("yes", "With unread replies"), ("no", "All read")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(unread_count__gt=0)  # the partial index conv_unread
        if self.value() == "no":
            return queryset.filter(unread_count=0)
        return queryset


class KeywordFilter(admin.SimpleListFilter):
    title = "keyword replies"
    parameter_name = "keyword"

    def lookups(self, request, model_admin):
        return [("yes", "Has a keyword reply (STOP, HELP, JOIN…)"), ("no", "No keyword reply")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(inbox.keyword_replies())
        if self.value() == "no":
            return queryset.exclude(inbox.keyword_replies())
        return queryset


class CampaignFilter(admin.SimpleListFilter):
    """The campaign the conversation's latest reply answered (the conv_by_campaign index)."""

    title = "campaign replied to"
    parameter_name = "campaign"

    def lookups(self, request, model_admin):
        latest = Campaign.objects.exclude(status=Campaign.Status.DRAFT).order_by("-id")[:CAMPAIGNS_OFFERED]
        offered = [(str(c.pk), c.name) for c in latest]
        chosen = self.value()
        if chosen and chosen.isdigit() and chosen not in dict(offered):
            older = Campaign.objects.filter(pk=int(chosen)).first()
            if older is not None:
                offered.append((chosen, older.name))
        return offered

    def has_output(self) -> bool:
        return True  # applied even before any campaign exists, so a campaign given by address always counts

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        chosen = self.value()
        if not chosen:
            return queryset
        if not chosen.isdigit():
            messages.warning(request, f"campaign: {chosen!r} is not a campaign's number.")
            return queryset.none()
        return queryset.filter(last_campaign_id=int(chosen))


# --- searching by number ------------------------------------------------------------------------------


def search_conversations(queryset: QuerySet, term: str) -> QuerySet:
    """A whole number finds its conversations; digits, those of numbers starting with them (conv_by_phone)."""
    compact = PHONE_PUNCTUATION.sub("", term.strip())
    if not compact:
        return queryset
    if not PHONE_LIKE.fullmatch(compact):
        return queryset.none()
    whole = whole_number(term)
    if whole is not None:
        return queryset.filter(phone=whole)
    return queryset.filter(phone_starts_with(compact))


def phone_starts_with(digits: str) -> Q:
    """Numbers starting with ``digits`` as a range of conv_by_phone (a LIKE alone cannot use the index under
    the database's collation; numbers are '+' and digits, ordered alike by every collation)."""
    start = "+" + digits.lstrip("+")
    matches = Q(phone__startswith=start, phone__gte=start)
    stem = start.rstrip("9")
    if stem != "+":  # +4479 is followed by +448; +999 by nothing
        matches &= Q(phone__lt=stem[:-1] + str(int(stem[-1]) + 1))
    return matches


# --- the reply box ---------------------------------------------------------------------------------------


class ReplyForm(forms.Form):
    text = forms.CharField(
        label="Reply",
        max_length=inbox.REPLY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "placeholder": "Write a reply…"}),
        error_messages={
            "required": "text: write the reply first (it is empty).",
            "max_length": f"text: a reply is at most {inbox.REPLY_MAX_LENGTH:,} characters.",
            "null_characters_not_allowed": "text: the reply contains a NUL character (\\u0000); remove it.",
        },
    )


class InboxPaginator(EstimatedCountPaginator):
    """Every page finds its 50 ids in an index first, then their rows (with their contact and channel):
    deep pages skip over ids alone, not over joined rows."""

    deferred_from_offset = 0


VERB_DONE = {"read": "marked read", "done": "marked done", "reopen": "reopened"}


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """The inbox (this model's changelist) and a conversation's page (its change view)."""

    list_display = ["who", "channel_name", "latest", "unread", "when", "state_badge"]
    list_display_links = ["who"]
    list_filter = [UnreadFilter, KeywordFilter, "state", "channel", CampaignFilter]
    list_select_related = ["contact", "channel"]
    list_per_page = 50
    search_fields = ["phone"]  # shows the box; search_conversations does the searching
    search_help_text = SEARCH_HELP
    sortable_by = []  # newest first only: the order every filter's index holds
    paginator = InboxPaginator
    show_full_result_count = False  # no COUNT(*) over the table per page
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice would read the table
    actions = ["mark_read", "mark_done", "reopen"]

    class Media:
        css = {"all": ["css/inbox.css"]}
        js = ["js/inbox.js"]

    # --- columns --------------------------------------------------------------------------------------

    def action_checkbox(self, conversation: Conversation) -> str:
        # Django renders each row's box through the form template engine: a third of this page's time.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="Select {}">',
            helpers.ACTION_CHECKBOX_NAME,
            conversation.pk,
            conversation.phone,
        )

    @admin.display(description="Contact")
    def who(self, conversation: Conversation) -> str:
        contact = conversation.contact
        if contact is not None and contact.name:
            return format_html('{} <small class="inbox-number">{}</small>', contact.name, conversation.phone)
        return conversation.phone

    @admin.display(description="Channel")
    def channel_name(self, conversation: Conversation) -> str:
        return conversation.channel.name

    @admin.display(description="Latest message")
    def latest(self, conversation: Conversation) -> str:
        return Truncator(conversation.last_text).chars(80) or "-"

    @admin.display(description="Unread")
    def unread(self, conversation: Conversation) -> str:
        if not conversation.unread_count:
            return ""
        return format_html('<span class="inbox-unread">{}</span>', conversation.unread_count)

    @admin.display(description="Time")
    def when(self, conversation: Conversation) -> str:
        """Of the latest message, short, in the viewer's zone (named above the list)."""
        return inbox.short_time(conversation.last_message_at)

    @admin.display(description="State")
    def state_badge(self, conversation: Conversation) -> str:
        return format_html(
            '<span class="inbox-state inbox-state-{}">{}</span>',
            conversation.state,
            conversation.get_state_display(),
        )

    def get_search_results(self, request, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        return search_conversations(queryset, search_term), False

    def has_add_permission(self, request) -> bool:
        return False  # a conversation starts when someone writes to us

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # what people wrote is kept

    def changelist_view(self, request, extra_context=None):
        extra = {
            "title": "Inbox",
            "zone_label": zone_label(),
            "poll_url": reverse("admin:campaigns_conversation_inbox_updates"),
            "poll_token": inbox.latest_change(),
            "poll_seconds": POLL_SECONDS,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

    # --- actions on ticked conversations --------------------------------------------------------------

    @admin.action(description="Mark read", permissions=["change"])
    def mark_read(self, request, queryset) -> None:
        changed = inbox.mark_read(queryset.select_related(None))
        self.message_user(request, f"Marked {changed} conversation(s) read.", messages.SUCCESS)

    @admin.action(description="Mark done", permissions=["change"])
    def mark_done(self, request, queryset) -> None:
        changed = inbox.mark_done(queryset.select_related(None))
        self.message_user(request, f"Marked {changed} conversation(s) done.", messages.SUCCESS)

    @admin.action(description="Reopen", permissions=["change"])
    def reopen(self, request, queryset) -> None:
        changed = inbox.reopen(queryset.select_related(None))
        self.message_user(request, f"Reopened {changed} conversation(s).", messages.SUCCESS)

    # --- a conversation's page ------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        own = [
            path("updates.json", wrap(self.inbox_updates_view), name="campaigns_conversation_inbox_updates"),
            path("<int:pk>/reply/", wrap(self.reply_view), name="campaigns_conversation_reply"),
            path("<int:pk>/mark/<str:verb>/", wrap(self.mark_view), name="campaigns_conversation_mark"),
            path("<int:pk>/updates.json", wrap(self.updates_view), name="campaigns_conversation_updates"),
        ]
        return [*own, *super().get_urls()]

    def _conversation(self, request, pk, change: bool = False, to: str = "open conversations") -> Conversation:
        check = self.has_change_permission if change else self.has_view_permission
        if not check(request):
            raise denied(model_perm(Conversation, "change" if change else "view"), to)
        return get_object_or_404(Conversation.objects.select_related("contact", "channel"), pk=pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not str(object_id).isdigit():
            return HttpResponseRedirect(reverse("admin:campaigns_conversation_changelist"))
        conversation = self._conversation(request, object_id)
        may_change = self.has_change_permission(request)
        if may_change and conversation.unread_count:
            inbox.mark_read(Conversation.objects.filter(pk=conversation.pk))  # opening it is reading it
        before = self._before(request)
        page = inbox.timeline(conversation, before=before)
        may_reply = may_change and request.user.has_perm(model_perm(OutboundMessage, "add"))
        refusal = inbox.window_refusal(conversation)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Conversation with {inbox.contact_label(conversation)}",
            "conversation": conversation,
            "page": page,
            "paged_back": before is not None,
            "zone_label": zone_label(),
            "may_change": may_change,
            "may_reply": may_reply,
            "form": ReplyForm(),
            "window_refusal": refusal,
            "reply_templates": inbox.reply_templates(conversation) if refusal and may_reply else [],
            "window_closes_at": inbox.window_closes_at(conversation),
            "poll_url": reverse("admin:campaigns_conversation_updates", args=[conversation.pk]),
            "poll_seconds": POLL_SECONDS,
            "contact_url": self._contact_url(request, conversation),
        }
        return TemplateResponse(request, "admin/campaigns/conversation/conversation.html", context)

    def _before(self, request) -> datetime | None:
        given = request.GET.get("before", "")
        if not given:
            return None
        try:
            moment = parse_datetime(given)
        except ValueError:
            moment = None
        if moment is None or timezone.is_naive(moment):
            self.message_user(request, f"before: {given!r} is not a date and time with its zone.", messages.WARNING)
            return None
        return moment

    def _contact_url(self, request, conversation: Conversation) -> str:
        if conversation.contact_id is None or not request.user.has_perm("contacts.view_contact"):
            return ""
        return reverse("admin:contacts_contact_change", args=[conversation.contact_id])

    @method_require_post
    def reply_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        conversation = self._conversation(request, pk, change=True, to="reply to a conversation")
        require(request, model_perm(OutboundMessage, "add"), to="reply to a conversation")
        page_url = reverse("admin:campaigns_conversation_change", args=[conversation.pk])
        if "whatsapp_template" in request.POST:  # outside the 24-hour window: an approved template
            return self._send(
                request,
                page_url,
                lambda: inbox.template_reply(
                    conversation, request.POST["whatsapp_template"], request.POST, request.user
                ),
            )
        form = ReplyForm(request.POST)
        if not form.is_valid():
            errors = " ".join(str(e) for errors in form.errors.values() for e in errors)
            self.message_user(request, f"Not sent: {errors}", messages.ERROR)
            return HttpResponseRedirect(page_url)
        return self._send(request, page_url, lambda: inbox.reply(conversation, form.cleaned_data["text"], request.user))

    def _send(self, request: HttpRequest, page_url: str, send) -> HttpResponse:
        """Send the reply (``send()``), then say how it went, back on the conversation's page."""
        try:
            message = send()
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(page_url)
        log_url = reverse("admin:campaigns_outboundmessage_change", args=[message.pk])
        self.message_user(
            request,
            format_html('Reply to {} is on its way (<a href="{}">follow it in the log</a>).', message.to, log_url),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(page_url)

    @method_require_post
    def mark_view(self, request: HttpRequest, pk: int, verb: str) -> HttpResponse:
        conversation = self._conversation(request, pk, change=True, to="mark conversations read or done")
        page_url = reverse("admin:campaigns_conversation_change", args=[conversation.pk])
        if verb not in inbox.VERBS:
            self.message_user(request, f"verb: {verb!r} is not one of read, done, reopen.", messages.ERROR)
            return HttpResponseRedirect(page_url)
        inbox.VERBS[verb](Conversation.objects.filter(pk=conversation.pk))
        self.message_user(request, f"Conversation with {conversation.phone} {VERB_DONE[verb]}.", messages.SUCCESS)
        if verb == "done":  # done with it: back to the rest of the inbox
            return HttpResponseRedirect(reverse("admin:campaigns_conversation_changelist"))
        return HttpResponseRedirect(page_url)

    def updates_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        """The conversation's latest page of messages, for the page's live updates. Someone watching it
        reads what arrives: it stays read for those who may change it."""
        conversation = self._conversation(request, pk, to="watch a conversation")
        if conversation.unread_count and self.has_change_permission(request):
            inbox.mark_read(Conversation.objects.filter(pk=conversation.pk))
        page = inbox.timeline(conversation)
        return JsonResponse(
            {
                "state": conversation.state,
                "state_label": conversation.get_state_display(),
                "entries": [entry.as_json() for entry in page.entries],
            }
        )

    def inbox_updates_view(self, request: HttpRequest) -> JsonResponse:
        """A token that changes when any conversation does, and the unread figures: the list refreshes
        its rows when the token moves."""
        if not self.has_view_permission(request):
            raise denied(model_perm(Conversation, "view"), "watch the inbox")
        unread = inbox.unread_summary()
        return JsonResponse(
            {
                "token": inbox.latest_change(unread),
                "unread_conversations": unread.conversations,
                "unread_replies": unread.replies,
                "capped": unread.capped,
            }
        )
