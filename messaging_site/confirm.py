"""A question before a changelist action that cannot be undone (cancel campaigns, messages or bulk
jobs, revoke keys, opt contacts out), as the change page asks before its Cancel button.

The action's first call shows templates/admin/confirm_action.html: what will happen, to how many,
the first few by name. Its "Yes" posts back to the changelist (same URL, so the same filters and
search) with the same selection and ``post=yes``, the way Django's own delete confirmation does; the
action then runs. Only Django is imported: every app's admin uses it.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

NAMED = 10  # objects listed by name on the page; the rest are counted


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get("post") == "yes"


def ask(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    question: str,
    consequence: str,
    button: str,
    count: int | None = None,
) -> TemplateResponse:
    """The confirmation page for the action being posted, over ``queryset`` (the rows it would touch)."""
    opts = model_admin.model._meta
    total = queryset.count() if count is None else count
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": question,
        "consequence": consequence,
        "button": button,
        "count": total,
        "named": list(queryset[:NAMED]),
        "more": max(total - NAMED, 0),
        "action": request.POST.get("action", ""),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across") == "1",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "back_query": request.GET.urlencode(),
    }
    return TemplateResponse(request, "admin/confirm_action.html", context)
