"""The admin site: Django's, plus the dashboard index, the staff time zone page, zone-named date inputs,
and two-factor sign-in (messaging_site/two_factor.py)."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.urls import path

from campaigns.widgets import ZonedAdminSplitDateTime
from messaging_site.two_factor import SignInForm, two_factor_qr_view, two_factor_view


class MessagingAdminSite(admin.AdminSite):
    index_template = "admin/index.html"
    login_form = SignInForm  # asks for the authenticator code of staff who turned two-factor on

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        super().register(model_or_iterable, admin_class, **options)
        for model_admin in self._registry.values():
            name_zone_on_date_inputs(model_admin)

    def get_urls(self):
        from campaigns.admin.time_zone import time_zone_view

        return [
            path("time-zone/", self.admin_view(time_zone_view), name="time_zone"),
            path("two-factor/", self.admin_view(self.two_factor), name="two_factor"),
            path("two-factor/qr.svg", self.admin_view(two_factor_qr_view), name="two_factor_qr"),
            *super().get_urls(),
        ]

    def two_factor(self, request):
        return two_factor_view(request, self)

    def index(self, request, extra_context=None):
        from campaigns.admin.dashboard import dashboard_context

        return super().index(request, {**dashboard_context(request), **(extra_context or {})})


def name_zone_on_date_inputs(model_admin: admin.ModelAdmin) -> None:
    """Every admin date-time input says its zone, unless that admin chose another widget on purpose."""
    overrides = model_admin.formfield_overrides.setdefault(models.DateTimeField, {})
    if overrides.get("widget") in (None, admin.widgets.AdminSplitDateTime):
        overrides["widget"] = ZonedAdminSplitDateTime
