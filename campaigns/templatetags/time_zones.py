"""Template helpers that name the staff member's time zone next to dates."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.html import format_html

from campaigns.models.staff import zone_label

register = template.Library()
COLUMN = re.compile(r"column-(\w+)")


@register.simple_tag
def time_zone_label() -> str:
    return zone_label()


@register.simple_tag
def column_zone(cl, header: dict) -> str:
    """ " (EAT)"-style note under a changelist column of dates, so a column of times says its zone."""
    match = COLUMN.search(str(header.get("class_attrib", "")))
    if match is None:
        return ""
    try:
        field = cl.model._meta.get_field(match.group(1))
    except FieldDoesNotExist:  # a computed column, not a model field
        return ""
    if not isinstance(field, models.DateTimeField):
        return ""
    return format_html('<span class="time-zone-name">{}</span>', zone_label())


@register.simple_tag
def readonly_zone(field) -> str:
    """The zone after a read-only date on a change page, when there is a date to show."""
    name = field.field.get("name") if isinstance(field.field, dict) else None
    value = getattr(field.form.instance, name, None) if isinstance(name, str) else None
    if not isinstance(value, datetime):
        return ""
    return format_html(' <span class="time-zone-name">{}</span>', zone_label())
