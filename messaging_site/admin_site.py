"""The admin site: Django's, plus the dashboard index, the staff time zone page and zone-named date inputs."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.urls import path

from campaigns.widgets import ZonedAdminSplitDateTime


class MessagingAdminSite(admin.AdminSite):
    index_template = "admin/index.html"

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        super().register(model_or_iterable, admin_class, **options)
        for model_admin in self._registry.values():
            name_zone_on_date_inputs(model_admin)

    def get_urls(self):
        from campaigns.admin.time_zone import time_zone_view

        return [path("time-zone/", self.admin_view(time_zone_view), name="time_zone"), *super().get_urls()]

    def index(self, request, extra_context=None):
        from campaigns.admin.dashboard import dashboard_context

        return super().index(request, {**dashboard_context(request), **(extra_context or {})})


def name_zone_on_date_inputs(model_admin: admin.ModelAdmin) -> None:
    """Every admin date-time input says its zone, unless that admin chose another widget on purpose."""
    overrides = model_admin.formfield_overrides.setdefault(models.DateTimeField, {})
    if overrides.get("widget") in (None, admin.widgets.AdminSplitDateTime):
        overrides["widget"] = ZonedAdminSplitDateTime
