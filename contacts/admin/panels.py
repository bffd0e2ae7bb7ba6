"""Sections that apps above contacts add to a contact's page.

Contacts imports nothing above it (tests/test_layers.py), yet a contact's page shows the messages
the campaigns app sent and received. So the campaigns app registers a panel here
(campaigns/admin/timeline.py) and ContactAdmin renders whatever is registered, below the form, and
serves the panel's own pages under the contact's URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern

from contacts.models import Contact


@dataclass(frozen=True)
class ContactPanel:
    """``render`` gives the panel's HTML for one contact and viewer ("" shows nothing: e.g. a viewer
    without the permission it needs); ``urls`` gives its pages, for ContactAdmin.get_urls."""

    name: str
    render: Callable[[HttpRequest, Contact], str]
    urls: Callable[[admin.ModelAdmin], list[URLPattern]] = lambda model_admin: []


_panels: dict[str, ContactPanel] = {}


def add_contact_panel(panel: ContactPanel) -> None:
    """Register ``panel`` (once per name: importing the registering module twice changes nothing)."""
    _panels[panel.name] = panel


def contact_panels() -> list[ContactPanel]:
    return list(_panels.values())


def rendered_panels(request: HttpRequest, contact: Contact) -> list[str]:
    return [html for panel in contact_panels() if (html := panel.render(request, contact))]
