"""Sign-in protections around Django's own: whose address a failure counts against, and how long a
signed-in session lives (SESSION_IDLE_MINUTES without a request, SESSION_MAX_HOURS in all).

Throttling itself is django-axes (settings: LOGIN_FAILURE_LIMIT, LOGIN_LOCKOUT_MINUTES); the
locked-out page is templates/admin/locked_out.html.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from messaging_site.client_address import client_address as address_of_client

SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
# A session is written at most this often just to say it is still in use (not on every request).
SEEN_AT_PRECISION_SECONDS = 60


def client_address(request: HttpRequest) -> str | None:
    """The address a sign-in came from: behind our proxies, the one the outermost saw
    (messaging_site/client_address.py, TRUSTED_PROXY_COUNT); REMOTE_ADDR when that cannot be told."""
    return address_of_client(request) or request.META.get("REMOTE_ADDR")


def locked_out_page(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """The admin's sign-in page, saying the sign-in is locked, for how long and who can unlock it."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "username": username,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "lockout_minutes": settings.LOGIN_LOCKOUT_MINUTES,
    }
    return render(request, "admin/locked_out.html", context, status=429)


@receiver(user_logged_in)
def start_session_clock(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """A fresh sign-in starts both clocks, whatever the session held before."""
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[SIGNED_IN_AT] = now
        request.session[SEEN_AT] = now


class SessionLimitsMiddleware:
    """Signs out a session idle for SESSION_IDLE_MINUTES or older than SESSION_MAX_HOURS."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session:
            self.apply_limits(request)
        return self.get_response(request)

    def apply_limits(self, request: HttpRequest) -> None:
        session = request.session
        now = int(time.time())
        signed_in_at = session.get(SIGNED_IN_AT)
        seen_at = session.get(SEEN_AT)
        if signed_in_at is None or seen_at is None:  # a session from before these limits
            session[SIGNED_IN_AT] = session[SEEN_AT] = now
            return
        reason = session_end_reason(now - seen_at, now - signed_in_at)
        if reason:
            logout(request)
            messages.info(request, reason)
        elif now - seen_at >= SEEN_AT_PRECISION_SECONDS:
            session[SEEN_AT] = now


def session_end_reason(idle_seconds: int, age_seconds: int) -> str | None:
    idle_limit = settings.SESSION_IDLE_MINUTES * 60
    if idle_seconds > idle_limit:
        return (
            f"You were signed out after {settings.SESSION_IDLE_MINUTES} minutes without activity "
            "(SESSION_IDLE_MINUTES). Sign in again to go on."
        )
    if age_seconds > settings.SESSION_MAX_HOURS * 3600:
        return (
            f"You were signed out {settings.SESSION_MAX_HOURS} hours after signing in (SESSION_MAX_HOURS). "
            "Sign in again to go on."
        )
    return None
