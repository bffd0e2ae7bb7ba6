"""Refusals that name the permission a staff member lacks, for every app's admin views.

Django's own PermissionDenied shows a bare "403 Forbidden"; templates/403.html shows the message
raised here instead, so the person knows what to ask an administrator for. Only Django is imported:
contacts and providers use it too (they may not import campaigns).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# The dedicated permission for the job queues (/admin/rq/) and the metrics (/admin/metrics/).
OPERATE_QUEUES = "campaigns.operate_queues"


def permission_name(perm: str) -> str:
    """'campaigns.change_campaign' -> 'Can change campaign', as the user admin lists it."""
    app_label, _, codename = perm.partition(".")
    found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    return found.name if found else codename


def refusal(perm: str, to: str) -> str:
    return f"Permission needed: “{permission_name(perm)}” ({perm}), to {to}. Ask an administrator for it."


def model_perm(model: type[Model] | Model, action: str) -> str:
    """The permission Django checks for ``action`` ("view", "add", "change", "delete") on ``model``."""
    opts = model._meta
    return f"{opts.app_label}.{get_permission_codename(action, opts)}"


def denied(perm: str, to: str) -> PermissionDenied:
    return PermissionDenied(refusal(perm, to))


def require(request: HttpRequest, *perms: str, to: str) -> None:
    """Raise a 403 naming the first of ``perms`` the user lacks (a superuser has them all)."""
    for perm in perms:
        if not request.user.has_perm(perm):
            raise denied(perm, to)


def may_operate(user) -> bool:
    """Administrators: superusers, or staff given the dedicated permission."""
    return user.is_active and user.is_staff and (user.is_superuser or user.has_perm(OPERATE_QUEUES))


def for_operators(view: Callable) -> Callable:
    """Wrap a django-rq view: staff without the permission get a 403 naming it. Everyone else gets
    the view's own answer (a login page for the signed-out, django-rq's token check for its API)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_staff and not may_operate(user):
            raise denied(OPERATE_QUEUES, "open the job queues and workers")
        return view(request, *args, **kwargs)

    return guarded


# What each of Django's own admin views needs, by the end of its URL name ("campaigns_campaign_add").
DJANGO_VIEW_NEEDS = {
    "changelist": "view",
    "change": "view",
    "history": "view",
    "add": "add",
    "delete": "delete",
    "password_change": "change",  # a user's password
}
DJANGO_VIEW_DOES = {"view": "open", "add": "add", "change": "change", "delete": "delete"}


def guessed_refusal(request: HttpRequest) -> str:
    """For Django's own admin views, which refuse without a word: the permission the page needs,
    when the person lacks it ("" when it is not that: e.g. a message that is read-only for everyone)."""
    from django.contrib import admin
    from django.urls import Resolver404, resolve

    try:
        match = resolve(request.path_info)
    except Resolver404:
        return ""
    for model in admin.site._registry:
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        view = match.url_name.removeprefix(prefix) if match.url_name else ""
        if match.namespace == admin.site.name and match.url_name.startswith(prefix) and view in DJANGO_VIEW_NEEDS:
            action = "change" if view == "change" and request.method == "POST" else DJANGO_VIEW_NEEDS[view]
            perm = model_perm(model, action)
            if not request.user.has_perm(perm):
                return refusal(perm, f"{DJANGO_VIEW_DOES[action]} {model._meta.verbose_name_plural}")
    return ""


def permission_denied_page(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Every 403 page (handler403): the admin's look, and the permission that was missing."""
    from django.contrib import admin

    message = str(exception or "") or guessed_refusal(request)
    context = {**admin.site.each_context(request), "title": "Not allowed", "exception": message}
    return render(request, "403.html", context, status=403)
