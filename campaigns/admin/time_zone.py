"""The staff member's own time zone page (the "Time zone" link in the admin's user tools)."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from campaigns.models.staff import StaffProfile, available_time_zones, validate_time_zone, zone_label


def grouped_zone_choices() -> list:
    """Zones by region (Africa, America, Europe...), the way people look for their city."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in sorted(available_time_zones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "US/", "Canada/", "Mexico/", "Brazil/", "Chile/")):
            if name != "UTC":
                continue
        region = name.split("/", 1)[0] if "/" in name else "UTC"
        groups[region].append((name, name.replace("_", " ")))
    return sorted(groups.items())


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(label="Your time zone")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = grouped_zone_choices()

    def clean_time_zone(self) -> str:
        name = self.cleaned_data["time_zone"]
        validate_time_zone(name)
        return name


def time_zone_view(request: HttpRequest) -> HttpResponse:
    current = StaffProfile.time_zone_of(request.user)
    form = TimeZoneForm(request.POST or None, initial={"time_zone": current})
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["time_zone"]
        StaffProfile.objects.update_or_create(user=request.user, defaults={"time_zone": name})
        zone = zoneinfo.ZoneInfo(name)
        timezone.activate(zone)
        messages.success(request, f"Dates are now shown and entered in {zone_label(zone)}.")
        return redirect(safe_next(request) or "admin:time_zone")
    context = {
        **admin.site.each_context(request),
        "title": "Your time zone",
        "form": form,
        "current_label": zone_label(),
        "next": safe_next(request),
    }
    return TemplateResponse(request, "admin/time_zone.html", context)


def safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return target if allowed else ""
