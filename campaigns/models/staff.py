"""What the admin remembers about each staff member: their time zone."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def validate_time_zone(name: str) -> None:
    if name not in available_time_zones():
        raise ValidationError(f"time_zone: {name!r} is not a time zone name such as Europe/London or Africa/Nairobi.")


def available_time_zones() -> set[str]:
    return zoneinfo.available_timezones()


class StaffProfile(models.Model):
    """One per staff member; created the first time they choose a time zone."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    time_zone = models.CharField(
        max_length=64,
        validators=[validate_time_zone],
        help_text="Every date in the admin is shown and entered in this zone.",
    )

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"

    @classmethod
    def time_zone_of(cls, user) -> str:
        """The user's chosen zone name, or the site's TIME_ZONE when they never chose one."""
        if user is None or not user.is_authenticated:
            return settings.TIME_ZONE
        name = cls.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
        return name if name in available_time_zones() else settings.TIME_ZONE


def zone_label(zone: zoneinfo.ZoneInfo | None = None, at: datetime | None = None) -> str:
    """A zone as staff read it: "Africa/Nairobi (EAT, UTC+03:00)" (abbreviation and offset at ``at``)."""
    zone = zone or timezone.get_current_timezone()
    local = (at or timezone.now()).astimezone(zone)
    offset = local.strftime("%z") or "+0000"
    abbreviation = local.tzname() or ""
    readable_offset = f"UTC{offset[:3]}:{offset[3:]}"
    name = getattr(zone, "key", str(zone))
    if abbreviation and not abbreviation.startswith(("+", "-")) and abbreviation != "UTC":
        return f"{name} ({abbreviation}, {readable_offset})"
    return f"{name} ({readable_offset})"
