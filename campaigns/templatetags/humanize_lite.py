"""Numbers as staff read them: 1,234,567 (django.contrib.humanize is not installed)."""

from django import template

register = template.Library()


@register.filter
def thousands(value: int) -> str:
    return f"{value:,}"
