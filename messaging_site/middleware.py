"""Each staff member sees and enters dates in their own time zone (their profile's, else TIME_ZONE)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class StaffTimeZoneMiddleware:
    """Activates the signed-in staff member's zone for the request; API callers keep UTC-aware ISO dates."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from campaigns.models.staff import StaffProfile

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            timezone.activate(zoneinfo.ZoneInfo(StaffProfile.time_zone_of(user)))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
