"""Providers' webhooks and the JSON API go past the middleware that only people's pages need.

A provider's callback or an API client's request carries no cookie, never signs in and gets no
HTML page: sessions, sign-in, two-factor, the staff time zone, flash messages and static files
have nothing to do for it, yet they cost a status callback a fifth of its CPU (bench/receipts.py).
Each is listed in settings.MIDDLEWARE through ``people_only``, which passes machine requests
straight on; it is a subclass of the original, so Django's checks still find it.

What guards every request stays on for these too: SecurityMiddleware (HTTPS redirect, HSTS,
nosniff), CommonMiddleware (ALLOWED_HOSTS), CSRF (by its own name, which the deploy check looks
for; these views are csrf_exempt anyway), X-Frame-Options and django-axes. Their answers get a
fixed Content-Security-Policy that allows nothing, in place of the pages' policy that django-csp
builds for each response.

Machine paths: /webhooks/..., /message..., /messages/..., /l/<code> (a tracked link's redirect; not
/api/docs: a page, with its policy).
"""

from __future__ import annotations

import re

from csp.middleware import CSPMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django_otp.middleware import OTPMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware

from messaging_site.middleware import StaffTimeZoneMiddleware
from messaging_site.sign_in import SessionLimitsMiddleware
from messaging_site.two_factor import SecondFactorMiddleware

MACHINE_PATH = re.compile(r"/(?:webhooks/|messages?(?:/|$)|l/)")
# JSON and TwiML answers load nothing and may be framed by nobody.
MACHINE_POLICY = "default-src 'none'; frame-ancestors 'none'"


def is_machine_request(request: HttpRequest) -> bool:
    return MACHINE_PATH.match(request.path_info) is not None


def people_only(middleware: type) -> type:
    """``middleware`` for people's pages; webhook and API requests go straight past it."""

    class PeopleOnly(middleware):
        passes_machine_requests = True  # the fast lane (messaging_site/fast_lane.py) leaves it out

        def __call__(self, request: HttpRequest) -> HttpResponse:
            if is_machine_request(request):
                return self.get_response(request)
            return super().__call__(request)

        if hasattr(middleware, "process_view"):

            def process_view(self, request: HttpRequest, *args, **kwargs):
                if is_machine_request(request):
                    return None
                return super().process_view(request, *args, **kwargs)

    PeopleOnly.__name__ = PeopleOnly.__qualname__ = middleware.__name__
    PeopleOnly.__module__ = __name__
    PeopleOnly.__doc__ = f"{middleware.__doc__ or middleware.__name__}\n\nNot for webhook and API requests."
    return PeopleOnly


class ContentSecurityPolicy(people_only(CSPMiddleware)):
    """django-csp's policy on people's pages; a fixed one that allows nothing on machine answers."""

    passes_machine_requests = False  # it gives them their policy

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = super().__call__(request)
        if is_machine_request(request):
            response.headers.setdefault("Content-Security-Policy", MACHINE_POLICY)
        return response


StaticFiles = people_only(WhiteNoiseMiddleware)
Sessions = people_only(SessionMiddleware)
SignedInUser = people_only(AuthenticationMiddleware)
OneTimePasswords = people_only(OTPMiddleware)
StaffTimeZone = people_only(StaffTimeZoneMiddleware)
FlashMessages = people_only(MessageMiddleware)
SessionLimits = people_only(SessionLimitsMiddleware)
SecondFactor = people_only(SecondFactorMiddleware)
